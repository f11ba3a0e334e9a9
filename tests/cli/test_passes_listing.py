"""`snncc passes` shows each pass's whole first sentence, never a line cut mid-sentence."""

from click.testing import CliRunner

from snncc.cli import cli
from snncc.passes import PASS_REGISTRY
from snncc.passes.registry import first_sentence


def _listing() -> dict[str, str]:
    result = CliRunner().invoke(cli, ["passes"])
    assert result.exit_code == 0
    entries: dict[str, str] = {}
    name = None
    for line in result.output.split("\n\ncodings:")[0].splitlines():
        if line[:1].strip():
            name, _, text = line.partition(" ")
            entries[name] = text.strip()
        else:
            entries[name] += " " + line.strip()
    return entries


def test_every_pass_shows_a_whole_sentence():
    entries = _listing()
    assert set(entries) == set(PASS_REGISTRY)
    for name, text in entries.items():
        assert text.endswith((".", "!", "?")), f"{name}: {text!r} is cut mid-sentence"
        assert text == PASS_REGISTRY[name].doc
    # a docstring whose first line breaks mid-sentence is shown up to the sentence's end, on the next line
    assert entries["lower-rate"].endswith("approximates clip(z, 0, theta) (algorithms.md §1.2).")


def test_first_sentence_rules():
    assert first_sentence("One line.\n\n    More.") == "One line."
    assert first_sentence("Spans\n    two lines, e.g. this one. Then another.") == "Spans two lines, e.g. this one."
    assert first_sentence("BN after Conv, with k = 1.5 per channel:\n\n    W' = W k") == \
        "BN after Conv, with k = 1.5 per channel."
    assert first_sentence("") == ""
