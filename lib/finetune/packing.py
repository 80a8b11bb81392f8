"""Packing: a batch's examples laid end to end in rows of a token budget, each attending only to itself.

A padded batch of B examples is (B, longest) tokens, most of them padding where lengths vary.
:func:`pack` lays the same examples into as few rows of ``budget`` tokens as first-fit
decreasing finds, each example keeping its own positions (0, 1, ...) and token types, and marks
which example each token belongs to (``packed_segments``; the padding at a row's end is a segment
of its own, so no query is left without a key). The encoder attends within a segment only
(a block-diagonal mask, :meth:`lib.encoders.families.Family.run_packed`), so every example gets the
hidden states the padded batch gives it. ``unpack`` then gathers them back into the padded
(B, longest) layout the task heads read, so the heads do not change: the [CLS] vector of each
example, the parser's word vectors, the span logits. A padded position reads its example's
first token (the heads mask padding out).

The batch, its loss and its gradients are the padded batch's; only the layout differs, so
dropout draws differ (packing changes a run as a different dropout seed would). It is the
training layout on a GPU (:func:`lib.encoders.runtime.resolve_runtime`); evaluation stays padded.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lib.errors import InputError


def pack_rows(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Example indices in rows of at most ``budget`` tokens: first fit, longest first.

    An example longer than ``budget`` gets a row of its own (:func:`pack` widens every row to it).

    >>> pack_rows([5, 3, 4, 2], budget=8)
    [[0, 1], [2, 3]]
    """
    if budget < 1:
        raise InputError(f"a packing budget must be at least one token, got {budget}")
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(budget - lengths[i])
    return rows


def pack(batch: dict[str, torch.Tensor], budget: int, pad_id: int) -> dict[str, torch.Tensor]:
    """``batch`` (from :func:`lib.finetune.features.collate`) with its encoder inputs packed.

    Adds ``packed_input_ids``, ``packed_positions``, ``packed_segments`` (and
    ``packed_token_type_ids`` where the batch has token types), each (rows, width), and ``unpack``
    (B, longest): the flat index into rows x width of each padded position. ``width`` is ``budget``,
    or the longest example where that is longer. The padded fields stay for the heads.
    """
    if "states" in batch:
        raise InputError("a batch that starts from a frozen prefix's stored states cannot be packed")
    ids = batch["input_ids"].numpy()
    lengths = batch["attention_mask"].sum(1).tolist()
    width = max(budget, *lengths)
    rows = pack_rows(lengths, width)
    n_rows = len(rows)
    packed_ids = np.full((n_rows, width), pad_id, dtype=ids.dtype)
    positions = np.zeros((n_rows, width), dtype=np.int64)
    segments = np.full((n_rows, width), -1, dtype=np.int64)  # -1: the row's padding, a segment of its own
    types = batch["token_type_ids"].numpy() if "token_type_ids" in batch else None
    packed_types = np.zeros((n_rows, width), dtype=np.int64)
    unpack = np.zeros(ids.shape, dtype=np.int64)
    for r, members in enumerate(rows):
        at = 0
        for s, i in enumerate(members):
            n = lengths[i]
            packed_ids[r, at:at + n] = ids[i, :n]
            positions[r, at:at + n] = np.arange(n)
            segments[r, at:at + n] = s
            if types is not None:
                packed_types[r, at:at + n] = types[i, :n]
            unpack[i, :n] = r * width + at + np.arange(n)
            unpack[i, n:] = r * width + at  # padding reads the example's first token
            at += n
    out = dict(batch, packed_input_ids=torch.from_numpy(packed_ids), packed_positions=torch.from_numpy(positions),
               packed_segments=torch.from_numpy(segments), unpack=torch.from_numpy(unpack))
    if types is not None:
        out["packed_token_type_ids"] = torch.from_numpy(packed_types)
    return out


def layout_tokens(batch: dict[str, torch.Tensor]) -> int:
    """The tokens the encoder runs on: the packed rows where the batch is packed, else the padded batch."""
    return (batch["packed_input_ids"] if "packed_input_ids" in batch else batch["input_ids"]).numel()
