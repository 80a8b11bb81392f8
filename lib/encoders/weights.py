"""Where fine-tuning moved the weights: relative change per layer and module type.

``relative_change = ||W_ft - W_pre||_F / ||W_pre||_F`` over all tensors of a (layer, module)
group, where layer 0 is the embeddings and module is ``attention`` (query, key, value and output
projections), ``feed-forward`` (the two dense layers), ``layer norm`` or ``embeddings``.
"""
from __future__ import annotations

import re

import pandas as pd
import torch

from lib.errors import InputError

MODULES = ("embeddings", "attention", "feed-forward", "layer norm")


def locate(name: str) -> tuple[int, str] | None:
    """(layer, module) of a parameter name of a BERT-style encoder; ``None`` for the pooler.

    >>> locate("encoder.layer.3.attention.self.query.weight"), locate("embeddings.LayerNorm.bias")
    ((4, 'attention'), (0, 'layer norm'))
    """
    if name.startswith("pooler"):
        return None
    module = "layer norm" if "LayerNorm" in name else None
    if name.startswith("embeddings"):
        return 0, module or "embeddings"
    match = re.match(r"encoder\.layer\.(\d+)\.", name)
    if match is None:
        raise InputError(f"parameter {name!r} is not from a BERT-style encoder")
    layer = int(match.group(1)) + 1
    if module is None:
        module = "attention" if ".attention." in name else "feed-forward"
    return layer, module


@torch.no_grad()
def weight_change(pre: torch.nn.Module, post: torch.nn.Module) -> pd.DataFrame:
    """Tidy table (layer, module, delta_sq, norm_sq, relative_change) for two encoders of one shape."""
    before = dict(pre.named_parameters())
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
