"""The structural distance probe (Hewitt & Manning 2019).

A rank-k linear map B makes squared distances between word vectors approximate distances in the
dependency tree: ``d_B(h_i, h_j) = ||B (h_i - h_j)||^2 ~ d_tree(i, j)``, trained with the L1 loss
normalised by the squared sentence length. Scored by

- UUAS: the share of gold (undirected) edges found by the minimum spanning tree of the predicted
  distances; punctuation is left out of both trees;
- distance Spearman: for each word, the Spearman correlation of its predicted and gold distances
  to the other words, averaged per sentence length and then over lengths 5 to 50.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from lib.probing.edge_probe import probe_precision


def tree_distances(heads: tuple[int, ...]) -> np.ndarray:
    """(n, n) path lengths in the undirected tree of 1-based ``heads`` (0 = root)."""
    n = len(heads)
    neighbours = [[] for _ in range(n)]
    for child, head in enumerate(heads):
        if head > 0:
            neighbours[child].append(head - 1)
            neighbours[head - 1].append(child)
    distances = np.zeros((n, n), dtype=np.float32)
    for start in range(n):
        seen, queue = {start: 0}, deque([start])
        while queue:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
        distances[start, list(seen)] = list(seen.values())
    return distances


def _pad(items: list[np.ndarray], width: int) -> np.ndarray:
    return np.stack([np.pad(a, [(0, width - a.shape[0])] + [(0, 0)] * (a.ndim - 1)) for a in items])


@dataclass(frozen=True)
class DistanceTraining:
    """How structural distance probes train: at most ``epochs`` passes over the sentences in
    shuffled batches of ``batch_size`` sentences; Adam at rate ``lr``; ``precision`` of the product
    ``x B`` (``auto``, ``fp32`` or ``bf16``: :func:`lib.probing.edge_probe.probe_precision`); on
    ``device``. With dev sentences, early stopping on the dev loss: each map keeps its best state,
    and training stops when none has improved for ``patience`` epochs.

    >>> DistanceTraining(epochs=2)
    DistanceTraining(epochs=2, batch_size=20, lr=0.001, patience=2, precision='auto', device='cpu')
    """

    epochs: int = 4
    batch_size: int = 20
    lr: float = 1e-3
    patience: int = 2
    precision: str = "auto"
    device: str = "cpu"


def _batch_loss(b: torch.Tensor, vectors: list[torch.Tensor], gold_all: list[torch.Tensor], rows: list[int],
                bf16: bool) -> torch.Tensor:
    """(P, batch) L1 loss of each map on the sentences ``rows``, normalised by squared length."""
    device, (p, hidden, rank) = b.device, b.shape
    width = max(len(gold_all[i]) for i in rows)
    x = torch.zeros(p, len(rows), width, hidden, device=device)
    gold = torch.zeros(len(rows), width, width, device=device)
    for j, i in enumerate(rows):
        x[:, j, :len(gold_all[i])] = vectors[i]
        gold[j, :len(gold_all[i]), :len(gold_all[i])] = gold_all[i]
    lengths = torch.tensor([len(gold_all[i]) for i in rows], dtype=torch.float32, device=device)
    mask = (torch.arange(width, device=device)[None] < lengths[:, None])
    mask = mask[:, :, None] & mask[:, None, :]
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        projected = (x.view(p, -1, hidden) @ b).float().view(p, len(rows), width, rank)
    return ((squared_distances(projected) - gold).abs() * mask).sum((2, 3)) / lengths ** 2


def fit_distance_probes(sentences: list[np.ndarray], distances: list[np.ndarray], rank: int, seed: int,
                        training: DistanceTraining = DistanceTraining(), dev: np.ndarray | None = None) -> torch.Tensor:
    """Learn ``P`` maps B (P, hidden, rank) side by side, one per view of the words (a layer):
    ``sentences`` holds per sentence its vectors (P, n_i, hidden), ``distances`` its tree distances
    (n_i, n_i). The losses are summed over the views, so each B gets the gradients (and Adam steps)
    it would get alone; all start from the same seeded initial map. ``training``
    (:class:`DistanceTraining`): its ``precision`` is as for the edge probes
    (:func:`lib.probing.edge_probe.probe_precision`), for the product ``x B`` only; distances are
    computed in fp32. Trains on its ``device``: the sentences move there once. ``dev`` (sentences,)
    bool: sentences held out for early stopping (each map keeps its state of lowest mean dev loss)."""
    device = training.device
    bf16 = probe_precision(training.precision, device) == "bf16"
    torch.manual_seed(seed)
    p, hidden = sentences[0].shape[0], sentences[0].shape[2]
    b = torch.nn.Parameter(torch.empty(hidden, rank).uniform_(-0.05, 0.05).repeat(p, 1, 1).to(device))
    optimizer = torch.optim.Adam([b], lr=training.lr)
    generator = torch.Generator().manual_seed(seed)
    vectors = [torch.as_tensor(x).to(device) for x in sentences]
    gold_all = [torch.as_tensor(d).to(device) for d in distances]
    held = np.zeros(len(sentences), bool) if dev is None else np.asarray(dev, bool)
    train_rows, dev_rows = np.flatnonzero(~held), np.flatnonzero(held).tolist()
    best, best_loss, stale = b.detach().clone(), torch.full((p,), torch.inf, device=device), 0
    for _ in range(training.epochs):
        for rows in torch.as_tensor(train_rows)[torch.randperm(len(train_rows), generator=generator)].split(
                training.batch_size):
            loss = _batch_loss(b, vectors, gold_all, rows.tolist(), bf16)
            optimizer.zero_grad()
            loss.mean(1).sum().backward()
            optimizer.step()
        if not dev_rows:
            continue
        with torch.no_grad():
            dev_loss = torch.cat([_batch_loss(b, vectors, gold_all, dev_rows[i:i + 64], bf16)
                                  for i in range(0, len(dev_rows), 64)], 1).mean(1)
        better = dev_loss < best_loss
        stale = 0 if better.any() else stale + 1
        best_loss = torch.where(better, dev_loss, best_loss)
        best[better] = b.detach()[better]
        if stale >= training.patience:
            break
    return best if dev_rows else b.detach()


def fit_distance_probe(sentences: list[np.ndarray], distances: list[np.ndarray], rank: int, seed: int,
                       training: DistanceTraining = DistanceTraining()) -> torch.Tensor:
    """Learn B (hidden, rank) from per-sentence vectors (n_i, hidden) and tree distances (n_i, n_i)."""
    return fit_distance_probes([x[None] for x in sentences], distances, rank, seed, training)[0]


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """(..., n, k) -> (..., n, n) squared euclidean distances."""
    norms = (z ** 2).sum(-1)
    return (norms[..., :, None] + norms[..., None, :] - 2 * z @ z.transpose(-1, -2)).clamp(min=0)


def min_spanning_edges(distances: np.ndarray) -> set[frozenset]:
    """Edges of the minimum spanning tree of a complete graph (Prim's algorithm)."""
    n = len(distances)
    in_tree, best, parent = np.zeros(n, bool), distances[0].astype(float).copy(), np.zeros(n, int)
    in_tree[0] = True
    edges = set()
    for _ in range(n - 1):
        node = int(np.argmin(np.where(in_tree, np.inf, best)))
        edges.add(frozenset((node, int(parent[node]))))
        in_tree[node] = True
        closer = distances[node] < best
        best[closer], parent[closer] = distances[node][closer], node
    return edges


def _row_spearman(predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``predicted`` (..., k, k) with the same row of ``gold``
    (k, k): Pearson's r of their average ranks, as :func:`scipy.stats.spearmanr` (NaN for a constant row)."""
    a, b = rankdata(predicted, axis=-1), rankdata(gold, axis=-1)
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def _gold_edges(heads: tuple[int, ...], keep: np.ndarray) -> set[frozenset]:
    """The tree's undirected edges among the words ``keep`` (indices into that list)."""
    gold = tree_distances(heads)[np.ix_(keep, keep)]
    return {frozenset((int(i), int(j))) for i, j in zip(*np.nonzero(gold == 1)) if i < j}


def uuas_counts(found: int, gold: int) -> tuple[int, int, int]:
    """A sentence's (tp, fp, fn) for UUAS, counted as accuracy over its gold edges, so that
    ``2 tp / (2 tp + fp + fn)`` summed over sentences is UUAS: tp = gold edges found, fp = fn = missed.

    >>> uuas_counts(3, 5)
    (3, 2, 2)
    """
    return found, gold - found, gold - found


def linear_chain_counts(heads: list[tuple[int, ...]], punct: list[np.ndarray]) -> np.ndarray:
    """(sentences, 3) UUAS counts (:func:`uuas_counts`) of the linear-chain tree, each word attached
    to the next (punctuation left out, as in :func:`score_distance_probes`): a structure-blind baseline.

    >>> linear_chain_counts([(2, 0, 2, 3)], [np.array([False, False, False, False])]).tolist()  # 1-2, 2-3, 3-4 vs gold 1-2, 2-3, 3-4
    [[3, 0, 0]]
    """
    rows = []
    for sentence_heads, is_punct in zip(heads, punct):
        keep = np.flatnonzero(~np.asarray(is_punct, bool))
        gold = _gold_edges(sentence_heads, keep) if len(keep) >= 2 else set()
        chain = {frozenset((i, i + 1)) for i in range(len(keep) - 1)}
        rows.append(uuas_counts(len(chain & gold), len(gold)))
    return np.array(rows, dtype=int).reshape(len(rows), 3)


@torch.no_grad()
def score_distance_probes(b: torch.Tensor, sentences: list[np.ndarray], heads: list[tuple[int, ...]],
                          punct: list[np.ndarray]) -> list[dict]:
    """Per map of ``b`` (P, hidden, rank), UUAS and distance Spearman (see the module docstring) on
    held-out sentences, each given as its vectors (P, n_i, hidden), and ``counts`` (sentences, 3)
    the per-sentence UUAS counts (:func:`uuas_counts`); the product runs on ``b``'s device, the
    spanning trees on the CPU."""
    p = len(b)
    counts = np.zeros((p, len(sentences), 3), int)
    by_length: list[dict[int, list[float]]] = [{} for _ in range(p)]
    for s, (x, sentence_heads, is_punct) in enumerate(zip(sentences, heads, punct)):
        keep = np.flatnonzero(~is_punct)
        if len(keep) < 2:
            continue
        predicted = squared_distances(torch.as_tensor(x[:, keep]).to(b.device) @ b).cpu().numpy()
        gold = tree_distances(sentence_heads)[np.ix_(keep, keep)]
        gold_edges = _gold_edges(sentence_heads, keep)
        for view in range(p):
            counts[view, s] = uuas_counts(len(min_spanning_edges(predicted[view]) & gold_edges), len(gold_edges))
        if 5 <= len(keep) <= 50:
            rhos = _row_spearman(predicted, gold)
            for view in range(p):
                by_length[view].setdefault(len(keep), []).append(float(np.nanmean(rhos[view])))
    return [{"uuas": counts[view, :, 0].sum() / max(counts[view, :, 0].sum() + counts[view, :, 2].sum(), 1),
             "spearman": float(np.mean([np.mean(v) for v in by_length[view].values()])) if by_length[view] else float("nan"),
             "counts": counts[view]}
            for view in range(p)]


def score_distance_probe(b: torch.Tensor, sentences: list[np.ndarray], heads: list[tuple[int, ...]],
                         punct: list[np.ndarray]) -> dict[str, float]:
    """UUAS and distance Spearman of one map B (hidden, rank) on sentences given as (n_i, hidden)."""
    return score_distance_probes(b[None], [x[None] for x in sentences], heads, punct)[0]
