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

import numpy as np
import torch
from scipy.stats import spearmanr


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


def fit_distance_probe(sentences: list[np.ndarray], distances: list[np.ndarray], rank: int, seed: int,
                       epochs: int = 4, batch_size: int = 20, lr: float = 1e-3) -> torch.Tensor:
    """Learn B (hidden, rank) from per-sentence vectors (n_i, hidden) and tree distances (n_i, n_i)."""
    torch.manual_seed(seed)
    b = torch.nn.Parameter(torch.empty(sentences[0].shape[1], rank).uniform_(-0.05, 0.05))
    optimizer = torch.optim.Adam([b], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(sentences), generator=generator).split(batch_size):
            rows = rows.tolist()
            width = max(len(distances[i]) for i in rows)
            x = torch.as_tensor(_pad([sentences[i] for i in rows], width))
            gold = torch.as_tensor(np.stack([np.pad(distances[i], (0, width - len(distances[i]))) for i in rows]))
            lengths = torch.tensor([len(distances[i]) for i in rows], dtype=torch.float32)
            mask = (torch.arange(width)[None] < lengths[:, None])
            mask = mask[:, :, None] & mask[:, None, :]
            predicted = squared_distances(x @ b)
            loss = ((predicted - gold).abs() * mask).sum((1, 2)) / lengths ** 2
            optimizer.zero_grad()
            loss.mean().backward()
            optimizer.step()
    return b.detach()


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


@torch.no_grad()
def score_distance_probe(b: torch.Tensor, sentences: list[np.ndarray], heads: list[tuple[int, ...]],
                         punct: list[np.ndarray]) -> dict[str, float]:
    """UUAS and distance Spearman (see the module docstring) on held-out sentences."""
    found = total = 0
    by_length: dict[int, list[float]] = {}
    for x, sentence_heads, is_punct in zip(sentences, heads, punct):
        keep = np.flatnonzero(~is_punct)
        if len(keep) < 2:
            continue
        predicted = squared_distances(torch.as_tensor(x) @ b).numpy()[np.ix_(keep, keep)]
        gold = tree_distances(sentence_heads)[np.ix_(keep, keep)]
        gold_edges = {frozenset((i, j)) for i, j in zip(*np.nonzero(gold == 1)) if i < j}
        found += len(min_spanning_edges(predicted) & gold_edges)
        total += len(gold_edges)
        if 5 <= len(keep) <= 50:
            rhos = [spearmanr(predicted[i], gold[i]).statistic for i in range(len(keep))]
            by_length.setdefault(len(keep), []).append(float(np.nanmean(rhos)))
    spearman = float(np.mean([np.mean(v) for v in by_length.values()])) if by_length else float("nan")
    return {"uuas": found / max(total, 1), "spearman": spearman}
