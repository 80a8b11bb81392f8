"""Where fine-tuning moved the weights: relative change per layer and module type.

``relative_change = ||W_ft - W_pre||_F / ||W_pre||_F`` over all tensors of a (layer, module)
group, where layer 0 is the embeddings and module is ``attention`` (query, key, value and output
projections), ``feed-forward`` (the two dense layers), ``layer norm``, ``embeddings`` or DeBERTa's
``convolution``; which parameter is where depends on the model's family
(:meth:`lib.encoders.families.Family.locate`).
"""
from __future__ import annotations

import pandas as pd
import torch

from lib.encoders.families import family_of
from lib.errors import InputError


@torch.no_grad()
def weight_change(pre: torch.nn.Module, post: torch.nn.Module) -> pd.DataFrame:
    """Tidy table (layer, module, delta_sq, norm_sq, relative_change) for two encoders of one shape."""
    before, locate = dict(pre.named_parameters()), family_of(post).locate
    sums: dict[tuple[int, str], list[float]] = {}
    for name, after in post.named_parameters():
        where = locate(name)
        if where is None:
            continue
        if name not in before or before[name].shape != after.shape:
            raise InputError(f"the encoders differ at {name}: compare a model with its own pre-trained version")
        w0 = before[name].detach().float().cpu()
        delta = after.detach().float().cpu() - w0
        acc = sums.setdefault(where, [0.0, 0.0])
        acc[0] += float((delta ** 2).sum())
        acc[1] += float((w0 ** 2).sum())
    rows = [(layer, module, d, w) for (layer, module), (d, w) in sums.items()]
    table = pd.DataFrame(rows, columns=["layer", "module", "delta_sq", "norm_sq"])
    return relative_change(table, ["layer", "module"])


def relative_change(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Regroup a :func:`weight_change` table (summing squared norms, so groups combine exactly)."""
    grouped = table.groupby(by, as_index=False)[["delta_sq", "norm_sq"]].sum()
    grouped["relative_change"] = (grouped.delta_sq / grouped.norm_sq) ** 0.5
    return grouped.sort_values(by, ignore_index=True)
