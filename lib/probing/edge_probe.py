"""Edge probes (Tenney et al. 2019) on frozen word vectors, per layer or over a scalar mix.

A span's vector: project each of its words to ``dim`` (256), pool them with self-attention
(``a_i = softmax_i(w^T p_i)``, ``s = sum_i a_i p_i``); a span pair concatenates its two spans.
A 2-layer MLP (``dim`` hidden units, dropout 0.3) classifies. The score is micro-F1 over targets;
each target has exactly one label here, so it equals accuracy. The scalar mix (Tenney et al.
2019a) replaces one layer by ``gamma * sum_l softmax(s)_l x_l`` and learns ``s`` with the probe;
its expected layer is ``sum_l l softmax(s)_l``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lib.probing.targets import EdgeTargets
from lib.errors import InputError


def span_index(targets: EdgeTargets, offsets: np.ndarray, which: str = "span1") -> tuple[torch.Tensor, torch.Tensor]:
    """Global word indices (n, max span) and mask of each target's span; ``offsets[s]`` is the index
    of sentence s's first word in the vectors."""
    spans = getattr(targets, which)
    width = int((spans[:, 1] - spans[:, 0]).max())
    base = offsets[targets.sentence] + spans[:, 0]
    steps = np.arange(width)[None, :]
    mask = steps < (spans[:, 1] - spans[:, 0])[:, None]
    return torch.as_tensor(np.where(mask, base[:, None] + steps, 0)), torch.as_tensor(mask)


class SpanPool(nn.Module):
    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.project, self.score = nn.Linear(hidden, dim), nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (n, width, hidden) -> (n, dim)
        projected = self.project(x)
        weights = self.score(projected).squeeze(-1).masked_fill(~mask, -1e9).softmax(-1)
        return (weights[..., None] * projected).sum(1)


class EdgeProbe(nn.Module):
    """Span pooling (one or two spans), then a 2-layer MLP; ``n_layers`` > 1 adds a scalar mix."""

    def __init__(self, hidden: int, n_labels: int, n_spans: int, n_layers: int = 1, dim: int = 256,
                 dropout: float = 0.3):
        super().__init__()
        self.mix = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))
        self.pools = nn.ModuleList([SpanPool(hidden, dim) for _ in range(n_spans)])
        self.mlp = nn.Sequential(nn.Linear(n_spans * dim, dim), nn.ReLU(), nn.LayerNorm(dim), nn.Dropout(dropout),
                                 nn.Linear(dim, n_labels))

    def forward(self, spans: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """``spans``: per span, vectors (n, width, layers, hidden) and mask (n, width) -> logits."""
        weights = self.mix.softmax(0)
        pooled = [pool(self.gamma * (x * weights[:, None]).sum(2), mask) for pool, (x, mask) in zip(self.pools, spans)]
        return self.mlp(torch.cat(pooled, dim=-1))

    @property
    def expected_layer(self) -> float:
        weights = self.mix.detach().softmax(0)
        return float((weights * torch.arange(len(weights))).sum())


def _gather(vectors: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(layers, words, hidden) and (n, width) -> (n, width, layers, hidden)."""
    return vectors[:, index].permute(1, 2, 0, 3)


def fit_edge_probe(vectors: np.ndarray, spans: list[tuple[torch.Tensor, torch.Tensor]], labels: np.ndarray,
                   label_set: tuple[str, ...], seed: int, epochs: int = 4, batch_size: int = 256,
                   lr: float = 1e-3) -> EdgeProbe:
    """Train a probe on ``vectors`` (layers, words, hidden): one layer, or several for a scalar mix.

    ``spans`` from :func:`span_index`; ``labels`` strings within ``label_set``.
    """
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(encode_labels(labels, label_set))
    torch.manual_seed(seed)
    probe = EdgeProbe(x.shape[2], len(label_set), len(spans), n_layers=x.shape[0])
    mixing = [probe.mix, probe.gamma]  # 10x the rate: few steps must still move the layer weights
    rest = [p for name, p in probe.named_parameters() if name not in ("mix", "gamma")]
    optimizer = torch.optim.Adam([{"params": rest, "lr": lr}, {"params": mixing, "lr": 10 * lr}])
    generator = torch.Generator().manual_seed(seed)
    probe.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(y), generator=generator).split(batch_size):
            logits = probe([(_gather(x, index[rows]), mask[rows]) for index, mask in spans])
            loss = nn.functional.cross_entropy(logits, y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return probe.eval()


@torch.no_grad()
def score_edge_probe(probe: EdgeProbe, vectors: np.ndarray, spans, labels: np.ndarray,
                     label_set: tuple[str, ...], batch_size: int = 2048) -> float:
    """Micro-F1 (= accuracy: one label per target) of ``probe`` on held-out targets."""
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(encode_labels(labels, label_set))
    correct = 0
    for rows in torch.arange(len(y)).split(batch_size):
        logits = probe([(_gather(x, index[rows]), mask[rows]) for index, mask in spans])
        correct += int((logits.argmax(-1) == y[rows]).sum())
    return correct / len(y)


def encode_labels(labels: np.ndarray, label_set: tuple[str, ...]) -> np.ndarray:
    """Label strings to indices; a label outside ``label_set`` (unseen in training) is an error."""
    lookup = {label: i for i, label in enumerate(label_set)}
    unknown = sorted(set(labels.tolist()) - set(lookup))
    if unknown:
        raise InputError(f"labels {unknown[:5]} were not seen in training; known: {', '.join(label_set)}")
    return np.array([lookup[label] for label in labels.tolist()])
