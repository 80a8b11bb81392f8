"""Representational dissimilarity matrices (RDMs) and their comparison, in torch, in row chunks.

An RDM holds the dissimilarity of every pair of the n items under one representation:

- ``cosine``: 1 - cos(x_i, x_j);
- ``correlation``: 1 - Pearson correlation of x_i and x_j across features (rsatoolbox's default);
- ``euclidean``: ||x_i - x_j||.

Two RDMs are compared on their upper triangles (the n(n-1)/2 distinct pairs) by Pearson or
Spearman correlation. Pearson never holds a whole RDM: rows are computed ``chunk`` at a time and
only sums are kept, so memory is O(chunk x n). Spearman needs the ranks of all pairs, so it holds
the upper triangles (4 bytes x n(n-1)/2 each, 200 MB at n = 10,000).
"""
from __future__ import annotations

import torch

from lib.errors import InputError

METHODS = ("cosine", "correlation", "euclidean")
COMPARISONS = ("pearson", "spearman")


def check_method(method: str, compare: str = "pearson") -> None:
    if method not in METHODS:
        raise InputError(f"unknown RDM method {method!r}; valid: {', '.join(METHODS)}")
    if compare not in COMPARISONS:
        raise InputError(f"unknown RDM comparison {compare!r}; valid: {', '.join(COMPARISONS)}")


def prepare(x: torch.Tensor, method: str) -> torch.Tensor:
    """Rows normalised so that an RDM row block is one matrix product (cosine, correlation)."""
    if method == "correlation":
        x = x - x.mean(-1, keepdim=True)
    if method in ("cosine", "correlation"):
        x = x / torch.linalg.norm(x, dim=-1, keepdim=True)
    return x


def rdm_rows(x: torch.Tensor, start: int, stop: int, method: str) -> torch.Tensor:
    """Rows ``start:stop`` of the RDM of prepared items x (..., n, d) -> (..., stop - start, n)."""
    block = x[..., start:stop, :] @ x.transpose(-1, -2)
    if method == "euclidean":
        norms = (x * x).sum(-1)
        return (norms[..., start:stop, None] + norms[..., None, :] - 2 * block).clamp(min=0).sqrt()
    return 1 - block


def _upper_mask(start: int, stop: int, n: int, device) -> torch.Tensor:
    """(stop - start, n) mask of the pairs (i, j), i < j, in rows start..stop."""
    return torch.arange(n, device=device)[None, :] > torch.arange(start, stop, device=device)[:, None]


def upper_triangle(x: torch.Tensor, method: str, chunk: int = 1024) -> torch.Tensor:
    """The RDM's upper triangle (..., n(n-1)/2) in row-major order, as scipy's ``pdist`` orders it."""
    x, n = prepare(x, method), x.shape[-2]
    return torch.cat([rdm_rows(x, start, min(start + chunk, n), method)[..., _upper_mask(start, min(start + chunk, n), n, x.device)]
                      for start in range(0, n, chunk)], dim=-1)


def _pearson_from_sums(count, sx, sxx, sy, syy, sxy) -> torch.Tensor:
    cov = sxy - torch.outer(sx, sy) / count
    return cov / torch.sqrt(torch.outer(sxx - sx * sx / count, syy - sy * sy / count))


def pairwise_pearson(xs: torch.Tensor, ys: torch.Tensor, method: str, chunk: int = 512) -> torch.Tensor:
    """Pearson correlation of the RDM upper triangles of every layer of xs (L1, n, d1) with every
    layer of ys (L2, n, d2): (L1, L2).

    For cosine and correlation distances no n x n matrix is formed: with unit rows A (n, d) and
    S = A A^T, the RDM is 1 - S, its Pearson correlations are those of S, and the sums they need
    come from d x d products: ``sum_{i<j} S_ij T_ij = (||A^T B||_F^2 - sum_i S_ii T_ii) / 2``,
    ``sum_{i<j} S_ij = (||A^T 1||^2 - tr S) / 2``. Euclidean RDMs go row chunk by row chunk.
    """
    if method == "euclidean":
        return _chunked_pearson(xs, ys, method, chunk)
    xs, ys = prepare(xs, method), prepare(ys, method)
    count = xs.shape[-2] * (xs.shape[-2] - 1) / 2

    def sums(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = (a.sum(-2).double() ** 2).sum(-1) - 1.0 * a.shape[-2]  # unit rows: S_ii = 1
        squares = (a.transpose(-1, -2) @ a).double().pow(2).sum((-1, -2)) - a.shape[-2]
        return total / 2, squares / 2

    sx, sxx = sums(xs)
    sy, syy = sums(ys)
    sxy = torch.stack([((a.T @ ys).double().pow(2).sum((-1, -2)) - a.shape[0]) / 2 for a in xs])
    return _pearson_from_sums(count, sx, sxx, sy, syy, sxy)


def _chunked_pearson(xs: torch.Tensor, ys: torch.Tensor, method: str, chunk: int) -> torch.Tensor:
    """The same from RDM rows, ``chunk`` rows at a time (one pass, sums in float64)."""
    xs, ys = prepare(xs, method), prepare(ys, method)
    n = xs.shape[-2]
    sx = sxx = sy = syy = 0.0
    sxy = 0.0
    count = 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        keep = _upper_mask(start, stop, n, xs.device)
        a = rdm_rows(xs, start, stop, method)[:, keep].double()  # (L1, pairs in chunk)
        b = rdm_rows(ys, start, stop, method)[:, keep].double()
        sx, sxx = sx + a.sum(1), sxx + (a * a).sum(1)
        sy, syy = sy + b.sum(1), syy + (b * b).sum(1)
        sxy = sxy + a @ b.T
        count += a.shape[1]
    return _pearson_from_sums(count, sx, sxx, sy, syy, sxy)


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks along the last axis (ties broken by position; RDM entries are continuous)."""
    order = v.argsort(dim=-1)
    ranks = torch.empty_like(order, dtype=torch.float64)
    ranks.scatter_(-1, order, torch.arange(v.shape[-1], device=v.device, dtype=torch.float64).expand_as(order).clone())
    return ranks


def pairwise_spearman(xs: torch.Tensor, ys: torch.Tensor, method: str) -> torch.Tensor:
    """Spearman correlation of the RDM upper triangles, every layer pair: (L1, L2)."""
    a = _ranks(upper_triangle(xs, method))
    b = _ranks(upper_triangle(ys, method))
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return (a @ b.T) / torch.outer(torch.linalg.norm(a, dim=-1), torch.linalg.norm(b, dim=-1))
