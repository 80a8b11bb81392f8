"""Similarity of two models' representations of the same items, layer by layer: RSA and CKA.

Inputs are word vectors (layers, n, hidden) of the same n tokens under two models. Bad input is
refused, not turned into NaN: different token counts, n < 4, NaN or inf, a constant layer.
``standardize=True`` z-scores each dimension over the tokens first (the rogue-dimension
correction of Timkey & van Schijndel 2021), so that a few high-variance dimensions cannot
dominate cosines.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import torch

from lib.similarity.cka import debiased_cka_torch, linear_cka_torch
from lib.similarity.rsa import check_method, pairwise_pearson, pairwise_spearman
from lib.artifacts import cached_json
from lib.errors import InputError


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019) of x (n, d1) and y (n, d2), in [0, 1].

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred Xc, Yc; computed from
    the d x d cross-products, so memory is O(d^2), not O(n^2).

    >>> rng = np.random.default_rng(0); x = rng.normal(size=(100, 8))
    >>> round(linear_cka(x, 3 * x @ np.linalg.qr(rng.normal(size=(8, 8)))[0]), 6)
    1.0
    """
    x, y = _checked(np.asarray(x)[None], np.asarray(y)[None], "cpu")
    return float(linear_cka_torch(x[0].double(), y[0].double()))


def _checked(x, y, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    if x.ndim != 3 or y.ndim != 3:
        raise InputError("representations must be (layers, tokens, hidden)")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"x and y must describe the same items: {x.shape[1]} vs {y.shape[1]} tokens")
    if x.shape[1] < 4:
        raise InputError(f"similarity needs at least 4 tokens, got {x.shape[1]}")
    for name, v in (("x", x), ("y", y)):
        if not torch.isfinite(v).all():
            raise InputError(f"{name} holds NaN or inf: check the model's outputs")
        constant = (v.std(dim=1) == 0).all(dim=-1)
        if constant.any():
            raise InputError(f"{name} layer(s) {constant.nonzero().flatten().tolist()} are constant (zero variance): "
                             "similarity is undefined for a representation that does not vary")
    return x.float(), y.float()


def standardized(v: torch.Tensor) -> torch.Tensor:
    """Each layer's dimensions z-scored over tokens (constant dimensions left at 0)."""
    std = v.std(dim=1, keepdim=True)
    return (v - v.mean(dim=1, keepdim=True)) / torch.where(std > 0, std, torch.ones_like(std))


def similarity_matrix(x, y, measure: str = "rsa", method: str = "cosine", compare: str = "pearson",
                      standardize: bool = False, device: str = "cpu") -> np.ndarray:
    """Layer i of x against layer j of y: (layers_x, layers_y).

    ``measure``: ``rsa`` (RDMs by ``method``, compared by ``compare``), ``cka`` or ``cka_debiased``.
    """
    x, y = _checked(x, y, device)
    if standardize:
        x, y = standardized(x), standardized(y)
    if measure == "rsa":
        check_method(method, compare)
        matrix = pairwise_pearson(x, y, method) if compare == "pearson" else pairwise_spearman(x, y, method)
    elif measure in ("cka", "cka_debiased"):
        cka = linear_cka_torch if measure == "cka" else debiased_cka_torch
        xd, yd = x.double(), y.double()
        matrix = torch.stack([torch.stack([cka(a, b) for b in yd]) for a in xd])
    else:
        raise InputError(f"unknown measure {measure!r}; valid: rsa, cka, cka_debiased")
    return matrix.cpu().numpy()


def same_layer(x, y, method: str = "cosine", standardize: bool = False, device: str = "cpu",
               measures=("rsa", "cka", "cka_debiased")) -> pd.DataFrame:
    """Tidy (layer, *measures*): each layer of x against the same layer of y, by ``measures`` (of
    rsa, cka, cka_debiased)."""
    x, y = _checked(x, y, device)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"same-layer similarity needs models of one depth: {x.shape[0]} vs {y.shape[0]} layers")
    if standardize:
        x, y = standardized(x), standardized(y)
    check_method(method)
    compute = {"rsa": lambda a, b: pairwise_pearson(a, b, method)[0, 0],
               "cka": lambda a, b: linear_cka_torch(a[0].double(), b[0].double()),
               "cka_debiased": lambda a, b: debiased_cka_torch(a[0].double(), b[0].double())}
    rows = []
    for layer in range(x.shape[0]):
        a, b = x[layer:layer + 1], y[layer:layer + 1]
        rows.append({"layer": layer, **{name: float(compute[name](a, b)) for name in measures}})
    return pd.DataFrame(rows)


def sample_tokens(n_words: int, n_tokens: int, seed: int) -> np.ndarray:
    """A sorted random sample of ``n_tokens`` word indices (all when there are fewer)."""
    if n_tokens < 4:
        raise InputError(f"n_tokens must be at least 4, got {n_tokens}")
    if n_words <= n_tokens:
        return np.arange(n_words)
    return np.sort(np.random.default_rng(seed).choice(n_words, size=n_tokens, replace=False))


MEASURES = ("rsa", "cka", "cka_debiased")


def versus_pretrained(pre, tuned: list, method: str = "cosine", standardize: bool = False,
                      device: str = "cpu", measures=MEASURES, per_seed: bool = False) -> pd.DataFrame:
    """Each layer of the pre-trained model against the same layer of each fine-tuned seed, with the
    seed noise floor (the same measures between every pair of fine-tuned seeds).

    ``pre`` (layers, n, hidden); ``tuned`` a list of such arrays, one per seed. Returns tidy
    (layer, measure, value, value_min, value_max, seed_floor) for ``measures`` (of
    :data:`MEASURES`); ``value`` is the mean over seeds, ``seed_floor`` is NaN with a single seed.
    ``per_seed=True`` returns the comparisons behind it instead: (layer, measure, seed, other,
    value), ``seed`` the position of a fine-tuned seed in ``tuned`` and ``other`` -1 for the
    pre-trained model or the position of the other seed (``seed < other``): the seed floor's pairs.
    Stored by the content of the vectors and the settings (``<cache>/similarity/``): the closing
    chapter asks again for what chapters 4 and 6 computed.
    """
    measures = list(measures)
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown or not measures:
        raise InputError(f"unknown measures {unknown}; valid: {', '.join(MEASURES)}")
    arrays = [np.ascontiguousarray(a) for a in [pre, *tuned]]
    identity = {"vectors": [[list(a.shape), str(a.dtype), hashlib.sha256(a.tobytes()).hexdigest()] for a in arrays],
                "method": method, "standardize": standardize, "measures": measures,
                "device_type": str(device).split(":")[0], "rows": "per comparison"}
    pairs = pd.DataFrame(**cached_json("similarity", identity, lambda: _comparisons(
        pre, tuned, method, standardize, device, measures).to_dict("split", index=False)))  # floats exact
    return pairs if per_seed else _summary(pairs)


def _comparisons(pre, tuned: list, method: str, standardize: bool, device: str, measures: list[str]) -> pd.DataFrame:
    """(layer, measure, seed, other, value): every seed against the pre-trained model (other -1) and
    every pair of seeds."""
    runs = [same_layer(pre, t, method, standardize, device, measures).assign(seed=i, other=-1)
            for i, t in enumerate(tuned)]
    pairs = [same_layer(tuned[i], tuned[j], method, standardize, device, measures).assign(seed=i, other=j)
             for i in range(len(tuned)) for j in range(i + 1, len(tuned))]
    return pd.concat(runs + pairs, ignore_index=True).melt(
        id_vars=["layer", "seed", "other"], value_vars=measures, var_name="measure")[
        ["layer", "measure", "seed", "other", "value"]]


def _summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`versus_pretrained`'s table from its comparisons: the mean, min and max over seeds and
    the mean over pairs of seeds (the seed floor)."""
    runs, floors = pairs[pairs.other == -1], pairs[pairs.other >= 0]
    table = runs.groupby(["layer", "measure"], as_index=False)["value"].agg(
        value="mean", value_min="min", value_max="max")
    if len(floors):
        floor = floors.groupby(["layer", "measure"], as_index=False)["value"].mean().rename(
            columns={"value": "seed_floor"})
        return table.merge(floor, on=["layer", "measure"])
    return table.assign(seed_floor=np.nan)


def matrix_table(x, y, measure: str = "rsa", method: str = "cosine", device: str = "cpu") -> pd.DataFrame:
    """:func:`similarity_matrix` as a tidy table (layer_x, layer_y, similarity), for a heatmap."""
    matrix = similarity_matrix(x, y, measure, method, device=device)
    layer_x, layer_y = np.meshgrid(np.arange(matrix.shape[0]), np.arange(matrix.shape[1]), indexing="ij")
    return pd.DataFrame({"layer_x": layer_x.ravel(), "layer_y": layer_y.ravel(), "similarity": matrix.ravel()})


def closest_layers(matrix: pd.DataFrame) -> pd.DataFrame:
    """For each layer of the second model (``layer_y``), the layer of the first (``layer_x``) it
    resembles most: a :func:`matrix_table` -> (layer, closest, similarity, same_layer).

    ``closest < layer`` means the layer has been pulled down the first model's hierarchy.

    >>> m = pd.DataFrame({"layer_x": [0, 0, 1, 1], "layer_y": [0, 1, 0, 1], "similarity": [0.9, 0.8, 0.2, 0.5]})
    >>> closest_layers(m).values.tolist()
    [[0.0, 0.0, 0.9, 0.9], [1.0, 0.0, 0.8, 0.5]]
    """
    best = matrix.loc[matrix.groupby("layer_y").similarity.idxmax()]
    same = matrix[matrix.layer_x == matrix.layer_y].set_index("layer_y").similarity
    return pd.DataFrame({"layer": best.layer_y.values, "closest": best.layer_x.values,
                         "similarity": best.similarity.values, "same_layer": same.reindex(best.layer_y).values})
