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

The probes of one task (one per layer, and the mixes of layers ``0..l``) train side by side as one
:class:`EdgeProbes` stack: separate parameters, summed losses, one pass over the batches. Each
probe gets the gradients it would get alone (a test trains them both ways); the stack shares one
dropout mask per step and runs its large products in bf16 where the device has fast bf16 kernels.
Probes train on the device asked for: the vectors, spans and labels move there once, and the
scores come back at the end (no host synchronisation inside the loops).
``bench/probes.py`` times one probe at a time against the stack, side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    """The rows of ``n`` spans, without padding: (layers, rows, hidden) and each row's span (0..n-1)."""
    lengths = end - begin
    segment = torch.repeat_interleave(torch.arange(len(begin), device=begin.device), lengths)
    first = torch.cumsum(lengths, 0) - lengths
    rows = begin[segment] + torch.arange(len(segment), device=begin.device) - first[segment]
    return vectors[:, rows], segment


class EdgeProbes(nn.Module):
    """``P`` edge probes trained side by side on one batch stream: probe ``p`` mixes the layers
    ``masks[p]`` (one layer: a per-layer probe; layers 0..l: a cumulative scalar mix), pools each of
    its spans and classifies with its own MLP. Their parameters are stacked along a first axis and
    their losses summed, so each probe gets exactly the gradients (and Adam steps) it would get alone;
    one pass does the work of ``P`` small ones. Every probe starts from the same initial weights (a
    seeded :class:`torch.nn.Linear` init, as a lone probe would)."""

    def __init__(self, hidden: int, n_labels: int, n_spans: int, masks: torch.Tensor, dim: int = 256,
                 dropout: float = 0.3, bf16: bool = False):
        super().__init__()
        self.bf16 = bf16  # the projections and the MLP's products in bf16 (the rest, and the weights, in fp32)
        masks = torch.as_tensor(masks, dtype=torch.bool)
        if masks.ndim != 2 or not masks.any(1).all():
            raise InputError("each probe needs a (P, layers) mask with at least one layer")
        p = len(masks)
        self.register_buffer("masks", masks)
        self.dropout = dropout

        def stack(linear: nn.Linear) -> tuple[nn.Parameter, nn.Parameter]:  # (P, in, out), (P, 1, out)
            return (nn.Parameter(linear.weight.detach().T.repeat(p, 1, 1).contiguous()),
                    nn.Parameter(linear.bias.detach().repeat(p, 1, 1).contiguous()))

        self.mix = nn.Parameter(torch.zeros(masks.shape))
        self.gamma = nn.Parameter(torch.ones(p))
        self.project, self.project_bias, self.attend, self.attend_bias = (nn.ParameterList() for _ in range(4))
        for _ in range(n_spans):
            weight, bias = stack(nn.Linear(hidden, dim))
            self.project.append(weight), self.project_bias.append(bias)
            weight, bias = stack(nn.Linear(dim, 1))
            self.attend.append(weight), self.attend_bias.append(bias)
        self.hidden, self.hidden_bias = stack(nn.Linear(n_spans * dim, dim))
        self.norm_weight, self.norm_bias = nn.Parameter(torch.ones(p, 1, dim)), nn.Parameter(torch.zeros(p, 1, dim))
        self.out, self.out_bias = stack(nn.Linear(dim, n_labels))

    def weights(self) -> torch.Tensor:
        """(P, layers) softmax of each probe's mix over its own layers (0 elsewhere)."""
        return self.mix.masked_fill(~self.masks, -torch.inf).softmax(-1)

    def _pool(self, x: torch.Tensor, segment: torch.Tensor, n: int, span: int, weights: torch.Tensor) -> torch.Tensor:
        """(layers, rows, hidden) -> (P, n, dim): mix, project, self-attentive pooling within each span."""
        mixed = (weights @ x.reshape(len(x), -1)).view(len(weights), *x.shape[1:])
        with self._autocast():
            projected = torch.baddbmm(self.project_bias[span], mixed, self.project[span]).float()
        score = torch.baddbmm(self.attend_bias[span], projected, self.attend[span]).squeeze(-1)  # (P, rows)
        p, index = len(score), segment.expand(len(score), -1)
        top = torch.full((p, n), -torch.inf, device=x.device).scatter_reduce(1, index, score.detach(), reduce="amax")
        weight = (score - top.gather(1, index)).exp()
        total = torch.zeros(p, n, device=x.device).index_add(1, segment, weight)
        return torch.zeros(p, n, projected.shape[2], device=x.device).index_add(
            1, segment, (weight / total.gather(1, index))[..., None] * projected)

    def forward(self, spans: list[tuple[torch.Tensor, torch.Tensor]], n: int) -> torch.Tensor:
        """``spans``: per span, its rows' vectors (layers, rows, hidden) and their target (rows,) ->
        logits (P, n, labels) of the ``n`` targets."""
        weights = self.gamma[:, None] * self.weights()
        pooled = torch.cat([self._pool(x, segment, n, i, weights) for i, (x, segment) in enumerate(spans)], dim=-1)
        with self._autocast():
            hidden = torch.baddbmm(self.hidden_bias, pooled, self.hidden).float().relu()
        hidden = nn.functional.layer_norm(hidden, hidden.shape[-1:]) * self.norm_weight + self.norm_bias
        if self.training and self.dropout:  # one mask for all the probes: each one's is a fair draw
            hidden = hidden * (torch.rand(hidden.shape[1:], device=hidden.device) >= self.dropout) / (1 - self.dropout)
        with self._autocast():
            return torch.baddbmm(self.out_bias, hidden, self.out).float()

    def _autocast(self):
        return torch.autocast(self.masks.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def center_of_gravity(self) -> list[float]:
        """Per probe, ``sum_l l softmax(s)_l`` over its mixed layers (counted from 0)."""
        return (self.weights().detach() * torch.arange(self.masks.shape[1])).sum(1).tolist()


def probe_precision(precision: str = "auto", device: str = "cpu") -> str:
    """``fp32`` or ``bf16`` for probes on ``device``: ``auto`` is bf16 where the device has fast bf16
    kernels (:func:`lib.encoders.runtime.resolve_precision`), fp32 elsewhere (probes train without a
    gradient scaler, so a GPU without bf16 runs them in fp32, not fp16)."""
    from lib.encoders.runtime import resolve_precision

    if precision not in ("auto", "fp32", "bf16"):
        raise InputError(f"unknown probe precision {precision!r}; valid: auto, fp32, bf16")
    return "bf16" if resolve_precision(device, precision) == "bf16" else "fp32"


def _on(device: str, vectors: np.ndarray, spans, labels: np.ndarray, label_set, multi_label: bool):
    x = torch.as_tensor(vectors, dtype=torch.float32).to(device)
    y = torch.as_tensor(encode_labels(labels, label_set, multi_label)).to(device)
    return x, [(begin.to(device), end.to(device)) for begin, end in spans], y


def layer_masks(n_layers: int, single: bool = True, cumulative: bool = False) -> torch.Tensor:
    """Masks for :class:`EdgeProbes`: one probe per layer (``single``), then (``cumulative``) one
    mix of layers ``0..l`` for every ``l`` >= 1.

    >>> layer_masks(3, cumulative=True).int().tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]]
    """
    eye = torch.eye(n_layers, dtype=torch.bool)
    rows = ([eye] if single else []) + ([torch.tril(torch.ones(n_layers, n_layers, dtype=torch.bool))[1:]]
                                        if cumulative else [])
    return torch.cat(rows) if rows else torch.zeros(0, n_layers, dtype=torch.bool)


@dataclass(frozen=True)
class EdgeTraining:
    """How edge probes train: at most ``epochs`` passes over the training targets in shuffled batches
    of ``batch_size`` targets; Adam at rate ``lr`` (the scalar mix's ``s`` and ``gamma`` at
    ``10 * lr``); ``dropout`` before the MLP's output layer; ``precision`` of the large products
    (``auto``, ``fp32`` or ``bf16``: :func:`probe_precision`); on ``device``. With a dev split (the
    ``dev`` of :func:`fit_edge_probes`), early stopping: after each epoch every probe is scored on
    dev and keeps its best state; training stops when no probe has improved for ``patience`` epochs.

    >>> EdgeTraining(epochs=2)
    EdgeTraining(epochs=2, batch_size=128, lr=0.002, dropout=0.3, patience=2, precision='auto', device='cpu')
    """

    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    dropout: float = 0.3
    patience: int = 2
    precision: str = "auto"
    device: str = "cpu"


def fit_edge_probes(vectors: np.ndarray, spans: list[tuple[torch.Tensor, torch.Tensor]], labels: np.ndarray,
                    label_set: tuple[str, ...], seed: int, training: EdgeTraining = EdgeTraining(),
                    masks: torch.Tensor | None = None, multi_label: bool = False, dev: np.ndarray | None = None,
                    positive: str | None = None) -> EdgeProbes:
    """Train probes on ``vectors`` (layers, rows, hidden), one per row of ``masks`` (default: one
    probe mixing every layer), as ``training`` says (:class:`EdgeTraining`). Its ``precision``:
    ``bf16`` runs the large products in bf16 (on a CPU with native bf16 kernels a batched product
    runs about 4x faster than in fp32), ``fp32`` does not, ``auto`` picks bf16 where the device has
    it (:func:`probe_precision`).

    ``spans`` from :func:`span_index`; ``labels`` strings within ``label_set`` (with
    ``multi_label``, sets of them joined by ``+``). ``dev`` (targets,) bool: targets held out for
    early stopping, scored as :func:`score_edge_probes` scores (``positive``: that label's F1).
    Fitted: ``dev_curve_`` (epochs run, P) dev scores and ``best_epoch_`` (P,) the epoch (from 1)
    whose state each probe keeps (without ``dev``: the last).
    """
    device, lr = training.device, training.lr
    x, spans, y = _on(device, vectors, spans, labels, label_set, multi_label)
    masks = torch.ones(1, x.shape[0], dtype=torch.bool) if masks is None else torch.as_tensor(masks, dtype=torch.bool)
    torch.manual_seed(seed)
    probes = EdgeProbes(x.shape[2], len(label_set), len(spans), masks, dropout=training.dropout,
                        bf16=probe_precision(training.precision, device) == "bf16").to(device)
    mixing = [probes.mix, probes.gamma]  # 10x the rate: few steps must still move the layer weights
    rest = [p for name, p in probes.named_parameters() if name not in ("mix", "gamma")]
    optimizer = torch.optim.Adam([{"params": rest, "lr": lr}, {"params": mixing, "lr": 10 * lr}], **_fused(device))
    generator = torch.Generator().manual_seed(seed)
    dev = None if dev is None or not np.any(dev) else dev
    held = torch.zeros(len(y), dtype=torch.bool) if dev is None else torch.as_tensor(dev, dtype=torch.bool)
    train_rows, dev_rows = torch.nonzero(~held).squeeze(1), torch.nonzero(held).squeeze(1).to(device)
    column = None if positive is None else label_set.index(positive)
    stopping = _EarlyStopping(probes, training.patience)
    for epoch in range(1, training.epochs + 1):
        probes.train()
        for rows in train_rows[torch.randperm(len(train_rows), generator=generator)].to(device).split(training.batch_size):
            logits = probes([_gather(x, begin[rows], end[rows]) for begin, end in spans], len(rows))
            target = y[rows].expand(len(probes.masks), *y[rows].shape)
            if multi_label:  # the sum over probes of each probe's mean loss
                loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((1, 2)).sum()
            else:
                loss = nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if dev is None:
            continue
        probes.eval()
        counts = _counts(probes, x, spans, y, dev_rows, multi_label, column).sum(1)
        if stopping.update(f1(counts), epoch):
            break
    if dev is None:
        stopping.best_epoch = torch.full((len(probes.masks),), training.epochs)
    return stopping.restore()


class _EarlyStopping:
    """Each probe of a stack keeps its parameters of its best dev score so far; ``update`` says when
    none has improved for ``patience`` epochs. Every parameter of :class:`EdgeProbes` is stacked
    along its first axis, so probe ``p``'s state is index ``p`` of each."""

    def __init__(self, probes: EdgeProbes, patience: int):
        self.probes, self.patience, self.stale, self.curve = probes, patience, 0, []
        self.best = torch.full((len(probes.masks),), -1.0)
        self.best_epoch = torch.zeros(len(probes.masks), dtype=torch.long)
        self.state = [p.detach().clone() for p in probes.parameters()]

    def update(self, score: torch.Tensor, epoch: int) -> bool:
        score = score.cpu()
        self.curve.append(score.tolist())
        better = score > self.best
        self.stale = 0 if better.any() else self.stale + 1
        self.best, self.best_epoch[better] = torch.where(better, score, self.best), epoch
        device_better = better.to(self.state[0].device)
        for kept, now in zip(self.state, self.probes.parameters()):
            kept[device_better] = now.detach()[device_better]
        return self.stale >= self.patience

    def restore(self) -> EdgeProbes:
        if self.curve:
            with torch.no_grad():
                for kept, now in zip(self.state, self.probes.parameters()):
                    now.copy_(kept)
        self.probes.dev_curve_ = np.array(self.curve).reshape(len(self.curve), len(self.probes.masks))
        self.probes.best_epoch_ = self.best_epoch.numpy()
        return self.probes.eval()


def f1(counts: torch.Tensor) -> torch.Tensor:
    """``2 tp / (2 tp + fp + fn)`` of counts (..., 3) = (tp, fp, fn); 0 where there is no decision.

    >>> f1(torch.tensor([[3., 1., 1.], [0., 0., 0.]])).tolist()
    [0.75, 0.0]
    """
    tp, wrong = counts[..., 0], counts[..., 1] + counts[..., 2]
    return torch.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong).clamp(min=1e-12), torch.zeros_like(tp))


@torch.no_grad()
def _counts(probes: EdgeProbes, x: torch.Tensor, spans, y: torch.Tensor, rows: torch.Tensor, multi_label: bool,
            column: int | None, batch_size: int = 512) -> torch.Tensor:
    """(P, len(rows), 3): per probe and target, the (target, label) decisions' tp, fp and fn; over
    every label (one label per target: a correct target is (1, 0, 0), a wrong one (0, 1, 1)), or over
    the label ``column`` alone (positive-class F1)."""
    p, parts = len(probes.masks), []
    for part in rows.split(batch_size):
        logits = probes([_gather(x, begin[part], end[part]) for begin, end in spans], len(part))
        if multi_label:
            guess, gold = logits > 0, (y[part] > 0.5).expand(p, -1, -1)
        else:
            guess = nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).bool()
            gold = nn.functional.one_hot(y[part], logits.shape[-1]).bool().expand(p, -1, -1)
        if column is not None:
            guess, gold = guess[..., column:column + 1], gold[..., column:column + 1]
        parts.append(torch.stack([(guess & gold).sum(-1), (guess & ~gold).sum(-1), (~guess & gold).sum(-1)], -1))
    return torch.cat(parts, 1).float() if parts else torch.zeros(p, 0, 3, device=x.device)


@torch.no_grad()
def count_edge_probes(probes: EdgeProbes, vectors: np.ndarray, spans, labels: np.ndarray,
                      label_set: tuple[str, ...], multi_label: bool = False, positive: str | None = None) -> np.ndarray:
    """(P, targets, 3) int: per probe and held-out target, its tp, fp and fn (see :func:`f1`); with
    ``positive``, of that label alone (positive-class F1), else micro over every label."""
    device = probes.masks.device
    x, spans, y = _on(device, vectors, spans, labels, label_set, multi_label)
    column = None if positive is None else label_set.index(positive)
    return _counts(probes, x, spans, y, torch.arange(len(y), device=device), multi_label, column).cpu().numpy().astype(int)


def score_edge_probes(probes: EdgeProbes, vectors: np.ndarray, spans, labels: np.ndarray,
                      label_set: tuple[str, ...], multi_label: bool = False, positive: str | None = None) -> list[float]:
    """Per probe, micro-F1 on held-out targets (with one label per target: accuracy; with
    ``positive``, that label's F1), on the probes' device."""
    counts = count_edge_probes(probes, vectors, spans, labels, label_set, multi_label, positive)
    return f1(torch.as_tensor(counts.sum(1), dtype=torch.float64)).tolist()


def fit_edge_probe(vectors: np.ndarray, spans, labels: np.ndarray, label_set: tuple[str, ...], seed: int,
                   training: EdgeTraining = EdgeTraining(), multi_label: bool = False) -> EdgeProbes:
    """One probe over every layer of ``vectors`` (one layer, or several for a scalar mix)."""
    return fit_edge_probes(vectors, spans, labels, label_set, seed, training, multi_label=multi_label)


def score_edge_probe(probe: EdgeProbes, vectors: np.ndarray, spans, labels: np.ndarray,
                     label_set: tuple[str, ...], **options) -> float:
    """Micro-F1 of a single probe (:func:`fit_edge_probe`)."""
    return score_edge_probes(probe, vectors, spans, labels, label_set, **options)[0]


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


def _fused(device: str) -> dict:
    """Adam's fused kernel where torch has it for ``device`` (CPU: torch >= 2.4): one pass over
    the stacked parameters instead of a dozen elementwise ones (on a 2-core CPU the update was a
    quarter of a step). Same arithmetic, up to rounding."""
    version = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
    return {"fused": True} if torch.device(device).type in ("cpu", "cuda") and version >= (2, 4) else {}
