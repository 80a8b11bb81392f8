"""Edge probes (Tenney et al. 2019) on frozen subword vectors, per layer or over a scalar mix.

A span's vector: project each of its subwords (every subword of every word in the span) to
``dim`` (256), pool them with self-attention (``a_i = softmax_i(w^T p_i)``, ``s = sum_i a_i p_i``);
a span pair concatenates its two spans. A 2-layer MLP (``dim`` hidden units, dropout 0.3)
classifies. A task whose targets carry one label each is trained with softmax cross-entropy and
predicts the argmax; a multi-label task (several labels joined by ``+``) with one sigmoid per label,
predicting every label above 0.5. The score is micro-F1 over (target, label) decisions, which for
one label per target equals accuracy. The scalar mix (Tenney et al. 2019a) replaces one layer by
``gamma * sum_l softmax(s)_l x_l`` and learns ``s`` with the probe; ``sum_l l softmax(s)_l`` is its
*center of gravity* (Tenney, Das & Pavlick 2019).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lib.probing.targets import EdgeTargets, atoms
from lib.errors import InputError


def span_index(targets: EdgeTargets, starts: np.ndarray, which: str = "span1") -> tuple[torch.Tensor, torch.Tensor]:
    """The rows ``[begin, end)`` of each target's span: every row of every word in it.

    ``starts`` (from :func:`lib.encoders.extraction.word_starts`) gives each word's first row, the
    words of all sentences counted in order, and one past the last row.
    """
    spans = getattr(targets, which)
    first_word = np.r_[0, np.cumsum([len(words) for words in targets.words])]
    if first_word[-1] != len(starts) - 1:
        raise InputError(f"the vectors hold {len(starts) - 1} words and the targets' sentences "
                         f"{first_word[-1]}: extract them from the same sentences")
    begin = starts[first_word[targets.sentence] + spans[:, 0]]
    end = starts[first_word[targets.sentence] + spans[:, 1]]
    return torch.as_tensor(begin), torch.as_tensor(end)


def _gather(vectors: torch.Tensor, begin: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of ``n`` spans, without padding: (rows, layers, hidden) and each row's span (0..n-1)."""
    lengths = end - begin
    segment = torch.repeat_interleave(torch.arange(len(begin)), lengths)
    first = torch.cumsum(lengths, 0) - lengths
    rows = begin[segment] + torch.arange(len(segment)) - first[segment]
    return vectors[:, rows].transpose(0, 1), segment


class SpanPool(nn.Module):
    """Self-attentive pooling of each span's rows: project, score, softmax within the span, sum."""

    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.project, self.score = nn.Linear(hidden, dim), nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:  # (rows, hidden) -> (n, dim)
        projected = self.project(x)
        score = self.score(projected).squeeze(-1)
        top = torch.full((n,), -torch.inf).scatter_reduce(0, segment, score.detach(), reduce="amax")
        weight = (score - top[segment]).exp()
        total = torch.zeros(n).index_add(0, segment, weight)
        return torch.zeros(n, projected.shape[1]).index_add(0, segment, (weight / total[segment])[:, None] * projected)


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

    def forward(self, spans: list[tuple[torch.Tensor, torch.Tensor]], n: int) -> torch.Tensor:
        """``spans``: per span, its rows' vectors (rows, layers, hidden) and their target (rows,) ->
        logits of the ``n`` targets."""
        weights = self.mix.softmax(0)
        pooled = [pool(self.gamma * (x * weights[:, None]).sum(1), segment, n)
                  for pool, (x, segment) in zip(self.pools, spans)]
        return self.mlp(torch.cat(pooled, dim=-1))

    @property
    def center_of_gravity(self) -> float:
        """``sum_l l softmax(s)_l`` over the mixed layers (counted from 0)."""
        weights = self.mix.detach().softmax(0)
        return float((weights * torch.arange(len(weights))).sum())


def fit_edge_probe(vectors: np.ndarray, spans: list[tuple[torch.Tensor, torch.Tensor]], labels: np.ndarray,
                   label_set: tuple[str, ...], seed: int, epochs: int = 4, batch_size: int = 256,
                   lr: float = 1e-3, multi_label: bool = False) -> EdgeProbe:
    """Train a probe on ``vectors`` (layers, rows, hidden): one layer, or several for a scalar mix.

    ``spans`` from :func:`span_index`; ``labels`` strings within ``label_set`` (with
    ``multi_label``, sets of them joined by ``+``).
    """
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(encode_labels(labels, label_set, multi_label))
    loss_of = nn.functional.binary_cross_entropy_with_logits if multi_label else nn.functional.cross_entropy
    torch.manual_seed(seed)
    probe = EdgeProbe(x.shape[2], len(label_set), len(spans), n_layers=x.shape[0])
    mixing = [probe.mix, probe.gamma]  # 10x the rate: few steps must still move the layer weights
    rest = [p for name, p in probe.named_parameters() if name not in ("mix", "gamma")]
    optimizer = torch.optim.Adam([{"params": rest, "lr": lr}, {"params": mixing, "lr": 10 * lr}])
    generator = torch.Generator().manual_seed(seed)
    probe.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(y), generator=generator).split(batch_size):
            logits = probe([_gather(x, begin[rows], end[rows]) for begin, end in spans], len(rows))
            loss = loss_of(logits, y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return probe.eval()


@torch.no_grad()
def score_edge_probe(probe: EdgeProbe, vectors: np.ndarray, spans, labels: np.ndarray,
                     label_set: tuple[str, ...], batch_size: int = 2048, multi_label: bool = False) -> float:
    """Micro-F1 of ``probe`` on held-out targets (with one label per target: accuracy)."""
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(encode_labels(labels, label_set, multi_label))
    true_pos = predicted = actual = 0
    for rows in torch.arange(len(y)).split(batch_size):
        logits = probe([_gather(x, begin[rows], end[rows]) for begin, end in spans], len(rows))
        if multi_label:
            guess, gold = logits > 0, y[rows] > 0.5
        else:
            guess = nn.functional.one_hot(logits.argmax(-1), len(label_set)).bool()
            gold = nn.functional.one_hot(y[rows], len(label_set)).bool()
        true_pos += int((guess & gold).sum())
        predicted += int(guess.sum())
        actual += int(gold.sum())
    return 2 * true_pos / (predicted + actual) if predicted + actual else 0.0


def encode_labels(labels: np.ndarray, label_set: tuple[str, ...], multi_label: bool = False) -> np.ndarray:
    """Label strings to indices, or with ``multi_label`` to multi-hot rows (float); a label outside
    ``label_set`` (unseen in training) is an error."""
    lookup = {label: i for i, label in enumerate(label_set)}
    found_labels = [atoms(label, multi_label) for label in labels.tolist()]
    unknown = sorted({a for found in found_labels for a in found} - set(lookup))
    if unknown:
        raise InputError(f"labels {unknown[:5]} were not seen in training; known: {', '.join(label_set)}")
    if not multi_label:
        return np.array([lookup[found[0]] for found in found_labels])
    hot = np.zeros((len(found_labels), len(label_set)), dtype=np.float32)
    for i, found in enumerate(found_labels):
        hot[i, [lookup[a] for a in found]] = 1.0
    return hot
