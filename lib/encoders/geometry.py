"""The geometry of one encoder's word vectors, layer by layer.

All functions take ``vectors`` (layers, words, hidden) and return one value per layer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.similarity.compare import linear_cka
from lib.errors import InputError


def sample_pairs(sentence: np.ndarray, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` random pairs of word indices from different sentences (with replacement)."""
    if len(np.unique(sentence)) < 2:
        raise InputError("random word pairs need words from at least two sentences")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(sentence), size=4 * n_pairs)
    b = rng.integers(0, len(sentence), size=4 * n_pairs)
    keep = sentence[a] != sentence[b]
    return a[keep][:n_pairs], b[keep][:n_pairs]


def cosine_contributions(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-dimension terms of the cosine of pairs (a, b), averaged over pairs: (layers, hidden).

    ``cos(x, y) = sum_i x_i y_i / (||x|| ||y||)``; term i is the i-th summand (Timkey & van
    Schijndel 2021). The terms of a layer sum to its anisotropy.
    """
    x, y = vectors[:, a], vectors[:, b]  # (layers, pairs, hidden)
    norms = np.linalg.norm(x, axis=2, keepdims=True) * np.linalg.norm(y, axis=2, keepdims=True)
    return (x * y / np.maximum(norms, 1e-12)).mean(axis=1)


def rogue_dimensions(contributions: np.ndarray, top_k: int) -> pd.DataFrame:
    """Per layer: the dimension with the largest cosine term and the share of the top ``top_k``."""
    total = contributions.sum(axis=1)
    top = np.sort(contributions, axis=1)[:, ::-1][:, :top_k].sum(axis=1)
    return pd.DataFrame({"layer": np.arange(len(total)), "top_dimension": contributions.argmax(axis=1),
                         "top_k_share": top / np.where(np.abs(total) < 1e-12, np.nan, total)})


def describe_layers(vectors: np.ndarray, sentence: np.ndarray, n_pairs: int, top_k: int,
                    seed: int) -> pd.DataFrame:
    """Tidy table (layer, metric, value) of the book's baseline measures:

    ``norm`` mean L2 norm; ``anisotropy`` mean cosine of random word pairs from different
    sentences; ``rogue_share`` share of that cosine carried by the top-k dimensions;
    ``cka_next`` / ``cosine_next`` linear CKA with the next layer and mean cosine of each word
    with itself in the next layer (the last layer has none). ``top_dimension`` is the
    dimension with the largest cosine term at that layer.
    """
    a, b = sample_pairs(sentence, n_pairs, seed)
    contributions = cosine_contributions(vectors, a, b)
    rogue = rogue_dimensions(contributions, top_k)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=2, keepdims=True), 1e-12)
    n_layers = vectors.shape[0]
    columns = {
        "norm": np.linalg.norm(vectors, axis=2).mean(axis=1),
        "anisotropy": contributions.sum(axis=1),
        "rogue_share": rogue["top_k_share"].to_numpy(),
        "cka_next": [linear_cka(vectors[i], vectors[i + 1]) for i in range(n_layers - 1)] + [np.nan],
        "cosine_next": [float((unit[i] * unit[i + 1]).sum(1).mean()) for i in range(n_layers - 1)] + [np.nan],
    }
    table = pd.DataFrame({"layer": np.arange(n_layers), "top_dimension": rogue["top_dimension"], **columns})
    return table.melt(id_vars=["layer", "top_dimension"], var_name="metric", value_name="value").dropna()
