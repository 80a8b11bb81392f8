"""Similarity between two sets of representations of the same items."""
from __future__ import annotations

import numpy as np
import torch


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019) of x (n, d1) and y (n, d2), in [0, 1].

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred Xc, Yc; computed from
    the d x d cross-products, so memory is O(d^2), not O(n^2).

    >>> rng = np.random.default_rng(0); x = rng.normal(size=(100, 8))
    >>> round(linear_cka(x, 3 * x @ np.linalg.qr(rng.normal(size=(8, 8)))[0]), 6)
    1.0
    """
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must describe the same items: {x.shape[0]} vs {y.shape[0]} rows")
    x = x - x.mean(0)
    y = y - y.mean(0)
    denom = torch.linalg.norm(x.T @ x) * torch.linalg.norm(y.T @ y)
    if denom == 0:
        raise ValueError("linear CKA is undefined for a constant representation (zero variance)")
    return float(torch.linalg.norm(y.T @ x) ** 2 / denom)
