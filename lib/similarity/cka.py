"""Centered kernel alignment with a linear kernel (Kornblith et al. 2019), plain and debiased.

Both are computed from d x d cross-products of the features, never from n x n Gram matrices,
so memory is O(d^2 + n d) whatever the number of items n.
"""
from __future__ import annotations

import torch


def _centered(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(0, keepdim=True)


def linear_cka_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``; x (n, d1), y (n, d2) -> scalar in [0, 1]."""
    x, y = _centered(x), _centered(y)
    return torch.linalg.norm(y.T @ x) ** 2 / (torch.linalg.norm(x.T @ x) * torch.linalg.norm(y.T @ y))


def _hsic_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Song et al. (2012) unbiased HSIC of linear kernels K = X X^T, L = Y Y^T, without forming them.

    ``[tr(K~L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3))`` where K~ is
    K with its diagonal set to zero.
    """
    n = x.shape[0]
    k_diag, l_diag = (x * x).sum(1), (y * y).sum(1)
    trace = torch.linalg.norm(y.T @ x) ** 2 - (k_diag * l_diag).sum()
    k_rows = x @ x.sum(0) - k_diag  # K~ 1
    l_rows = y @ y.sum(0) - l_diag  # L~ 1
    middle = k_rows.sum() * l_rows.sum() / ((n - 1) * (n - 2))
    return (trace + middle - 2 / (n - 2) * (k_rows @ l_rows)) / (n * (n - 3))


def debiased_cka_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Debiased linear CKA (Nguyen et al. 2021): CKA with unbiased HSIC estimates; needs n >= 4.

    Unlike plain CKA it is not inflated for n small against d, and can be slightly negative.
    """
    x, y = _centered(x), _centered(y)
    return _hsic_unbiased(x, y) / torch.sqrt(_hsic_unbiased(x, x) * _hsic_unbiased(y, y))
