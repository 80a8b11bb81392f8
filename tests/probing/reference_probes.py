"""The edge probe as it was written before the probes were stacked: one probe at a time, with
``nn.Linear`` modules. The tests train it beside :class:`lib.probing.edge_probe.EdgeProbes` to show
that stacking changes nothing but the speed. Also the structural probe's Spearman by
:func:`scipy.stats.spearmanr`, one word at a time."""
import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from lib.probing.edge_probe import encode_labels


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
                   lr: float = 1e-3, multi_label: bool = False, dropout: float = 0.3) -> EdgeProbe:
    """Train a probe on ``vectors`` (layers, rows, hidden): one layer, or several for a scalar mix.

    ``spans`` from :func:`span_index`; ``labels`` strings within ``label_set`` (with
    ``multi_label``, sets of them joined by ``+``).
    """
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(encode_labels(labels, label_set, multi_label))
    loss_of = nn.functional.binary_cross_entropy_with_logits if multi_label else nn.functional.cross_entropy
    torch.manual_seed(seed)
    probe = EdgeProbe(x.shape[2], len(label_set), len(spans), n_layers=x.shape[0], dropout=dropout)
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


def row_spearman(predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    return np.array([spearmanr(p, g).statistic for p, g in zip(predicted, gold)])
