"""lib.stats on data made here: coverage on a known distribution, a textbook FDR example, pairing."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from lib.stats import (Interval, benjamini_hochberg, bootstrap_ci, greater_p, seed_interval, seed_item_ci)


def test_the_percentile_bootstrap_covers_a_known_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = [(ci.low <= 1.0 <= ci.high) for ci in
            (bootstrap_ci(np.mean, rng.exponential(1.0, 80), n_boot=400, seed=s) for s in range(150))]
    assert 0.88 <= np.mean(hits) <= 0.99  # the percentile interval undercovers a little on skewed data


def test_the_t_interval_over_three_seeds_covers_95_percent():
    rng = np.random.default_rng(1)
    hits = [(ci.low <= 0.5 <= ci.high) for ci in (seed_interval(rng.normal(0.5, 0.1, 3)) for _ in range(3000))]
    assert 0.935 <= np.mean(hits) <= 0.965


def test_welch_interval_matches_scipy():
    a, b = [0.5, 0.55, 0.6], [0.1, 0.2]
    ci = seed_interval(a, b)
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high))


def test_pairing_matters():
    """Item difficulty varies far more than the difference between two models: paired, the
    interval of the difference is narrow; with separate draws per model, it is wide."""
    rng = np.random.default_rng(2)
    difficulty = rng.normal(0, 1, 300)
    a, b = difficulty, difficulty + 0.1 + rng.normal(0, 0.05, 300)
    paired = bootstrap_ci(lambda x, y: (y - x).mean(), a, b, n_boot=500)
    apart = np.array(bootstrap_ci(np.mean, b, n_boot=500, seed=1)) - np.array(bootstrap_ci(np.mean, a, n_boot=500, seed=2))
    assert paired.low > 0.09 and paired.high < 0.11
    assert (paired.high - paired.low) * 10 < (bootstrap_ci(np.mean, a, n_boot=500).high - bootstrap_ci(np.mean, a, n_boot=500).low)
    assert apart[0] == pytest.approx(paired.estimate)


def test_the_two_level_bootstrap_widens_with_seed_noise_and_repeats_with_a_seed():
    rng = np.random.default_rng(3)
    items = rng.normal(0, 1, 200)
    calm = np.stack([items + 0.01 * s for s in range(3)])  # (seeds, items)
    noisy = np.stack([items + rng.normal(0, 1) for _ in range(3)])
    width = lambda ci: ci.high - ci.low  # noqa: E731
    assert width(seed_item_ci(np.mean, noisy, n_boot=400)) > 2 * width(seed_item_ci(np.mean, calm, n_boot=400))
    assert seed_item_ci(np.mean, noisy, n_boot=400, seed=7) == seed_item_ci(np.mean, noisy, n_boot=400, seed=7)


def test_benjamini_hochberg_on_the_textbook_example():
    """Benjamini & Hochberg (1995), section 4: fifteen p-values at q = 0.05 reject the first four."""
    p = [0.0201, 0.0001, 0.0004, 0.0019, 0.0095, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719,
         0.6528, 0.7590, 1.0]
    rejected, adjusted = benjamini_hochberg(p, 0.05)
    assert sorted(np.flatnonzero(rejected).tolist()) == [1, 2, 3, 4]
    assert adjusted == pytest.approx(scipy_stats.false_discovery_control(p, method="bh"))
    rejected, adjusted = benjamini_hochberg([0.01, float("nan"), 0.02])  # NaN: untested, not counted
    assert rejected.tolist() == [True, False, True] and adjusted[2] == pytest.approx(0.02)


def test_a_one_sided_p_value_and_no_interval_from_one_seed():
    assert greater_p([0.2, 0.21, 0.19]) < 0.01 < greater_p([-0.1, 0.1, 0.02])
    assert np.isnan(seed_interval([0.3]).low) and str(seed_interval([0.3])) == "0.30 [no interval]"
    assert str(Interval(0.93, 0.891, 0.97)) == "0.93 [0.89, 0.97]"
