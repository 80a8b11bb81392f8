"""Task heads on top of an encoder's last layer, and the model that joins them.

Each head maps ``hidden`` (batch, tokens, hidden) and the batch to ``(loss, predictions)``.
"""
from __future__ import annotations

import torch
from torch import nn

from lib.finetune.features import PAD_LABEL
from lib.encoders.families import family_of
from lib.encoders.layers import frozen_modules, run_layers
from lib.errors import InputError

HEADS = {"nli": "classifier", "sentiment": "classifier", "parsing": "biaffine", "qa": "span"}


POOLINGS = ("cls", "mean")


class ClassifierHead(nn.Module):
    """Dropout and a linear layer on the sentence vector, pooled as the encoder was trained to pool
    (:func:`lib.encoders.loading.sentence_pooling`): ``cls``, the [CLS] vector; ``mean``, the mean of
    the token vectors under the attention mask. Cross-entropy."""

    def __init__(self, hidden: int, n_labels: int, dropout: float = 0.1, pooling: str = "cls"):
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"unknown sentence pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_labels)
        self.pooling = pooling

    def pool(self, hidden: torch.Tensor, batch: dict) -> torch.Tensor:
        """(batch, hidden): the [CLS] vector, or the mean over the tokens the mask keeps."""
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = batch["attention_mask"][..., None].to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, hidden: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = self.out(self.dropout(self.pool(hidden, batch))).float()
        loss = nn.functional.cross_entropy(logits, batch["labels"]) if "labels" in batch else None
        return loss, {"label": logits.argmax(-1)}


class Bilinear(nn.Bilinear):
    """:class:`torch.nn.Bilinear` (the same weights, initialisation and outputs), computed as one
    matrix product and a contraction: torch's bilinear kernel took 65 % of a parsing step's time on
    a CPU, mostly in its backward; this form is about 30 times faster there."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out, left, right = self.weight.shape
        projected = (x @ self.weight.permute(1, 0, 2).reshape(left, out * right)).view(*x.shape[:-1], out, right)
        return torch.einsum("...or,...r->...o", projected, y) + self.bias


def _mlp(hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, out), nn.GELU(), nn.Dropout(dropout))


class BiaffineHead(nn.Module):
    """Dozat & Manning (2017) biaffine arc scorer and relation classifier over word vectors.

    ``s_arc[b, i, j] = d_i^T U h_j + u^T h_j`` scores word j (0 = root, the [CLS] vector) as the head
    of word i; relations come from a bilinear layer on the word and its (gold or predicted) head.
    Decoding takes the best head of each word independently (no tree constraint; our choice).
    """

    def __init__(self, hidden: int, n_rels: int, arc_dim: int = 256, rel_dim: int = 128, dropout: float = 0.2):
        super().__init__()
        self.arc_dep, self.arc_head = _mlp(hidden, arc_dim, dropout), _mlp(hidden, arc_dim, dropout)
        self.rel_dep, self.rel_head = _mlp(hidden, rel_dim, dropout), _mlp(hidden, rel_dim, dropout)
        self.arc_u = nn.Parameter(torch.zeros(arc_dim, arc_dim))
        self.arc_bias = nn.Linear(arc_dim, 1, bias=False)
        self.rel = Bilinear(rel_dim, rel_dim, n_rels)

    def forward(self, hidden: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict]:
        words = torch.gather(hidden, 1, batch["word_starts"][..., None].expand(-1, -1, hidden.shape[-1]))
        nodes = torch.cat([hidden[:, :1], words], dim=1)  # (batch, 1 + words, hidden); node 0 = root
        dep, head = self.arc_dep(words).float(), self.arc_head(nodes).float()
        scores = dep @ self.arc_u @ head.transpose(1, 2) + self.arc_bias(head).transpose(1, 2)
        mask = batch["word_mask"]
        n_words = mask.shape[1]
        valid = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)[:, None, :].expand(-1, n_words, -1).clone()
        valid[:, torch.arange(n_words), torch.arange(n_words) + 1] = False  # no word heads itself
        scores = scores.masked_fill(~valid, -1e4)
        pred_heads = scores.argmax(-1)
        gold = batch.get("heads")
        chosen = torch.where(gold >= 0, gold, pred_heads) if gold is not None and self.training else pred_heads
        rel_dep, rel_head = self.rel_dep(words).float(), self.rel_head(nodes).float()
        head_vectors = torch.gather(rel_head, 1, chosen[..., None].expand(-1, -1, rel_head.shape[-1]))
        rel_scores = self.rel(rel_dep.contiguous(), head_vectors.contiguous())
        loss = None
        if gold is not None:
            arc_loss = nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]),
                                                   gold.masked_fill(~mask, PAD_LABEL).reshape(-1),
                                                   ignore_index=PAD_LABEL)
            rel_loss = nn.functional.cross_entropy(rel_scores.reshape(-1, rel_scores.shape[-1]),
                                                   batch["rels"].masked_fill(~mask, PAD_LABEL).reshape(-1),
                                                   ignore_index=PAD_LABEL)
            loss = arc_loss + rel_loss
        return loss, {"heads": pred_heads, "rels": rel_scores.argmax(-1)}


class SpanHead(nn.Module):
    """Start and end logits per token (Devlin et al. 2019); the loss averages both cross-entropies."""

    def __init__(self, hidden: int):
        super().__init__()
        self.out = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict]:
        start, end = self.out(hidden).float().unbind(-1)
        outside = ~batch["context"]  # the question and its specials; position 0 stays (no answer)
        outside[:, 0] = False
        start, end = start.masked_fill(outside, -1e4), end.masked_fill(outside, -1e4)
        loss = None
        if "start" in batch:
            loss = (nn.functional.cross_entropy(start, batch["start"]) +
                    nn.functional.cross_entropy(end, batch["end"])) / 2
        return loss, {"start_logits": start, "end_logits": end}


def make_head(task: str, hidden: int, n_labels: int, pooling: str = "cls") -> nn.Module:
    """The head of ``task`` for an encoder of width ``hidden``; a classifier pools by ``pooling``."""
    kind = HEADS.get(task)
    if kind is None:
        raise InputError(f"no head for task {task!r}; heads exist for: {', '.join(HEADS)}")
    if kind == "classifier":
        return ClassifierHead(hidden, n_labels, pooling=pooling)
    if kind == "biaffine":
        return BiaffineHead(hidden, n_labels)
    return SpanHead(hidden)


class TaskModel(nn.Module):
    """An encoder and a task head: ``forward(batch) -> (loss, predictions)``.

    ``frozen_below=k``: the embeddings and layers 1..k stay in eval mode (no dropout) even while
    training, so they compute one fixed output per example. A batch may then carry those outputs
    (``states``: the hidden states after layer ``states_layer``, see :mod:`lib.experiments.prefix`) and the
    forward starts from them instead of recomputing the frozen part: the same numbers, less work.
    A packed batch (:func:`lib.finetune.packing.pack`) runs the encoder on its rows and gives the
    head the padded layout.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, frozen_below: int = 0):
        super().__init__()
        self.encoder, self.head, self.frozen_below = encoder, head, frozen_below

    def train(self, mode: bool = True) -> "TaskModel":
        super().train(mode)
        if mode:
            for module in frozen_modules(self.encoder, self.frozen_below):
                module.eval()
        return self

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        if "packed_input_ids" in batch:  # lib.finetune.packing: the same states, fewer padded tokens
            hidden = family_of(self.encoder).run_packed(batch)
        elif "states" in batch:
            hidden = run_layers(self.encoder, batch["states"], batch["attention_mask"], int(batch["states_layer"]))
        else:
            hidden = self.encoder(**family_of(self.encoder).inputs(batch)).last_hidden_state
        return self.head(hidden, batch)
