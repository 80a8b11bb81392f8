"""Confidence intervals and a multiplicity control for the book's verdicts.

- :func:`bootstrap` draws resampling indices: items with replacement, and, for a seed mean, first
  the seeds and then the items (two levels). The statistic receives the indices and applies the
  same draw to every array it reads (a *paired* bootstrap: the same test sentences for every model).
- :func:`bootstrap_ci` and :func:`seed_item_ci`: the percentile interval of a statistic of aligned
  arrays, items on axis 0, or seeds on axis 0 and items on axis 1.
- :func:`seed_interval`: where only one value per seed exists, Student's t interval of the mean
  over seeds (Welch's for a difference of two independent seed sets).
- :func:`benjamini_hochberg`: the false-discovery-rate control of many cells tested together.

A fixed ``seed`` gives the same numbers on every run.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy import stats as _scipy

LEVEL = 0.95  # the confidence level of every interval in the book
N_BOOT = 2000  # bootstrap replicates (our choice: the 2.5 % tails rest on 50 replicates each)


class Interval(NamedTuple):
    """A point estimate and its interval; ``low``/``high`` are NaN where no interval exists (one seed)."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 2) -> str:
        """``0.93 [0.89, 0.97]``; ``0.93 [no interval]`` where there is none.

        >>> Interval(0.0123, 0.004, 0.02).format(3), str(Interval(0.5, float("nan"), float("nan")))
        ('0.012 [0.004, 0.020]', '0.50 [no interval]')
        """
        if self.low != self.low or self.high != self.high:
            return f"{self.estimate:.{digits}f} [no interval]"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap(statistic: Callable[[np.ndarray, np.ndarray], float], n_items: int, n_seeds: int = 1,
              n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, np.ndarray]:
    """The estimate ``statistic(all seeds, all items)`` and ``n_boot`` replicates, each
    ``statistic(seed_index, item_index)`` with seeds (``n_seeds``) and then items (``n_items``)
    drawn with replacement; with ``n_seeds = 1`` only the items vary.

    >>> x = np.arange(10.0)
    >>> est, reps = bootstrap(lambda s, i: x[i].mean(), 10, n_boot=500)
    >>> est, reps.shape, bool(reps.min() < est < reps.max())
    (4.5, (500,), True)
    """
    rng = np.random.default_rng(seed)
    estimate = float(statistic(np.arange(n_seeds), np.arange(n_items)))
    replicates = np.empty(n_boot)
    for b in range(n_boot):
        seeds = rng.integers(0, n_seeds, n_seeds) if n_seeds > 1 else np.zeros(1, dtype=int)
        replicates[b] = statistic(seeds, rng.integers(0, n_items, n_items))
    return estimate, replicates


def percentile_interval(estimate: float, replicates: np.ndarray, level: float = LEVEL) -> Interval:
    """The percentile interval of bootstrap ``replicates`` (NaN replicates dropped) around ``estimate``.

    >>> print(percentile_interval(0.5, np.linspace(0, 1, 101)))
    0.50 [0.03, 0.97]
    """
    finite = np.asarray(replicates, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"))
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(low), float(high))


def bootstrap_ci(statistic: Callable[..., float], *arrays, level: float = LEVEL, n_boot: int = N_BOOT,
                 seed: int = 0) -> Interval:
    """Percentile interval of ``statistic(*arrays)`` over items resampled on axis 0; one index draw
    is applied to every array (paired).

    >>> rng = np.random.default_rng(1); a = rng.normal(size=200); b = a + 0.1
    >>> bootstrap_ci(lambda x, y: (y - x).mean(), a, b)  # paired: the difference does not vary
    Interval(estimate=0.1, low=0.1, high=0.1)
    """
    arrays = [np.asarray(a) for a in arrays]
    estimate, reps = bootstrap(lambda _, i: statistic(*(a[i] for a in arrays)), len(arrays[0]), 1, n_boot, seed)
    return percentile_interval(round(estimate, 12), reps.round(12), level)


def seed_item_ci(statistic: Callable[..., float], *arrays, level: float = LEVEL, n_boot: int = N_BOOT,
                 seed: int = 0) -> Interval:
    """Two-level percentile interval: arrays are (seeds, items, ...); each replicate draws seeds,
    then items (the same items for every seed and array: they are crossed), and applies
    ``statistic`` to the resampled arrays.

    >>> values = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]])  # (seeds, items)
    >>> seed_item_ci(lambda v: v.mean(), values, n_boot=200).estimate
    2.25
    """
    arrays = [np.asarray(a) for a in arrays]
    n_seeds, n_items = arrays[0].shape[:2]
    estimate, reps = bootstrap(lambda s, i: statistic(*(a[s][:, i] for a in arrays)), n_items, n_seeds, n_boot, seed)
    return percentile_interval(estimate, reps, level)


def seed_interval(values, other=None, level: float = LEVEL) -> Interval:
    """Student's t interval of the mean of per-seed ``values`` (``mean +- t * s / sqrt(n)``, n - 1
    degrees of freedom); with ``other``, Welch's interval of ``mean(values) - mean(other)`` for two
    independent sets of seeds. Fewer than two seeds on a side: no interval (NaN).

    >>> seed_interval([0.80, 0.82, 0.84])
    Interval(estimate=0.82, low=0.7703..., high=0.8696...)
    >>> seed_interval([0.5])
    Interval(estimate=0.5, low=nan, high=nan)
    """
    a = np.asarray(values, dtype=float)
    if other is None:
        estimate, n = float(a.mean()), len(a)
        if n < 2:
            return Interval(estimate, float("nan"), float("nan"))
        half = _scipy.t.ppf((1 + level) / 2, n - 1) * a.std(ddof=1) / np.sqrt(n)
        return Interval(round(estimate, 12), float(estimate - half), float(estimate + half))
    b = np.asarray(other, dtype=float)
    estimate = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Interval(estimate, float("nan"), float("nan"))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return Interval(estimate, estimate, estimate)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = _scipy.t.ppf((1 + level) / 2, df) * np.sqrt(va + vb)
    return Interval(estimate, float(estimate - half), float(estimate + half))


def greater_p(values) -> float:
    """One-sided p-value of a t test that the mean of per-seed ``values`` is above 0 (NaN with
    fewer than two seeds; 0 or 1 where the values do not vary).

    >>> round(greater_p([0.1, 0.12, 0.11]), 4), greater_p([0.1])
    (0.0014, nan)
    """
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return float("nan")
    if a.std() == 0:
        return 0.0 if a.mean() > 0 else 1.0
    return float(_scipy.ttest_1samp(a, 0.0, alternative="greater").pvalue)


def benjamini_hochberg(p_values, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg at false discovery rate ``q``: (rejected, adjusted p-values), in the
    order given. ``adjusted_(i) = min_{j >= i} m p_(j) / j`` over the sorted p-values (capped at 1);
    a p-value is rejected when its adjusted value is at most ``q``. NaN p-values are never rejected
    and do not count among the m tests.

    >>> rejected, adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
    >>> rejected.tolist(), adjusted.round(3).tolist()
    ([True, False, False, False], [0.04, 0.053, 0.053, 0.2])
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if tested.size:
        order = tested[np.argsort(p[tested], kind="stable")]
        scaled = p[order] * tested.size / np.arange(1, tested.size + 1)
        adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return np.nan_to_num(adjusted, nan=np.inf) <= q, adjusted
