"""The closing chapter's evidence and verdict rules, on tables made to pass or fail each rule."""
import numpy as np
import pandas as pd
import pytest

from lib.experiments import evidence, findings


def _probes(parser_drop: float) -> pd.DataFrame:
    rows = [{"model": "pre-trained", "seed": "-", "probe": "upos", "layer": l, "score": 0.5 + 0.1 * l} for l in range(4)]
    for task, drop in (("nli", 0.0), ("parsing", parser_drop)):
        for seed, jitter in ((0, 0.0), (1, 0.004)):
            rows += [{"model": task, "seed": str(seed), "probe": "upos", "layer": l,
                      "score": 0.5 + 0.1 * l - drop + jitter} for l in range(4)]
    return pd.DataFrame(rows)


def _similarity(floors: dict[str, int]) -> pd.DataFrame:
    """RSA 1.0 up to the task's layer, then falling below a floor of 0.9."""
    return pd.DataFrame([{"task": task, "layer": l, "measure": "rsa", "seed_floor": 0.9,
                          "value": 1.0 if l < first else 0.8 - 0.1 * (l - first)}
                         for task, first in floors.items() for l in range(7)])


def _ablation(losses: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "seed": 0, "experiment": "freezing", "k": k,
                          "metric": "accuracy", "value": 0.8 - loss * k / 6}
                         for task, loss in losses.items() for k in range(7)])


def _shift(in_more: bool, layers: int = 7) -> pd.DataFrame:
    """Per layer and measure: SNLI (in-domain) changes 0.1 per layer (in_more) or 0.02; the others 0.05."""
    rows = []
    for layer in range(layers):
        for measure in ("rsa", "cka"):
            for d in ("snli", "wikipedia", "ewt-email"):
                step = (0.1 if in_more else 0.02) if d == "snli" else 0.05
                rows.append({"task": "nli", "domain": d, "in_domain": d == "snli", "layer": layer, "measure": measure,
                             "value": 1 - step * layer, "seed_floor": 0.95})
    return pd.DataFrame(rows)


def test_forgetting_counts_only_drops_beyond_the_seed_noise():
    table = findings.forgetting(_probes(parser_drop=0.01)).set_index("task")
    assert table.loc["parsing", "change"] == pytest.approx(-0.008) and not table.forgot.any()
    assert findings.forgetting(_probes(parser_drop=0.2)).set_index("task").loc["parsing", "forgot"]


def test_forgetting_per_layer_says_where_a_drop_sits():
    """A drop confined to the top layers is no forgetting at the best layer, but it shows per layer."""
    table = _probes(parser_drop=0.0)
    table["score"] = table.score - 0.3 * (table.layer >= 2) * (table.layer - 1)  # the best layer is layer 1
    top = (table.model == "parsing") & (table.layer >= 2)
    table.loc[top, "score"] -= 0.05 * (table.loc[top, "layer"] - 1)  # layer 2: -0.05, layer 3: -0.10
    by_layer = findings.forgetting_by_layer(table).set_index(["task", "layer"])
    assert by_layer.loc[("parsing", 3), "change"] == pytest.approx(-0.098) and by_layer.loc[("parsing", 3), "dropped"]
    assert not by_layer.loc[("parsing", 1), "dropped"] and not by_layer.loc[("nli", 3), "dropped"]
    assert by_layer.loc[("parsing", 2), "floor"] == pytest.approx(0.02)
    summary = findings.forgetting(table).set_index("task")
    assert summary.loc["parsing", "drops_at"] == "layers 2-3" and summary.loc["nli", "drops_at"] == "no layer"
    assert summary.loc["parsing", "worst_layer"] == 3 and not summary.loc["parsing", "forgot"]
    assert findings._layer_list([0, 1, 2, 4, 6, 7]) == "layers 0-2, 4, 6-7" and findings._layer_list([5]) == "layer 5"


def test_depth_of_change_finds_where_similarity_leaves_the_floor():
    depth = findings.depth_of_change(_similarity({"parsing": 2, "nli": 5})).set_index("task")
    assert depth.loc["parsing", "first_below_floor"] == 2 and depth.loc["nli", "first_below_floor"] == 5
    assert depth.loc["nli", "most_changed_layer"] == 6 and depth.loc["nli", "bottom_change"] == 0


def test_a_tie_with_the_floor_near_one_is_not_a_change():
    table = _similarity({"nli": 5})
    table.loc[table.layer == 0, ["value", "seed_floor"]] = [0.9991, 0.9996]  # below, but by less than the margin
    assert findings.depth_of_change(table).first_below_floor.iloc[0] == 5


def test_the_domain_finding_is_judged_at_every_layer_beyond_seed_noise():
    by_layer = findings.domain_gap_by_layer(_shift(True)).set_index(["measure", "layer"])
    assert not by_layer.loc[("cka", 0), "informative"] and by_layer.loc[("cka", 3), "informative"]
    assert by_layer.loc[("rsa", 3), "in_domain_change"] == pytest.approx(0.3)
    gap = findings.domain_gap(_shift(True)).set_index("measure")
    assert gap.loc["cka", "holds"] and gap.loc["cka", "in_domain_more_at"] == gap.loc["cka", "beyond_noise"] == "layers 1-6"
    top_only = _shift(False)  # in-domain changes less, except at the last layer
    last = (top_only.layer == 6) & top_only.in_domain
    top_only.loc[last, "value"] = 0.2
    gap = findings.domain_gap(top_only).set_index("measure")
    assert not gap.loc["rsa", "holds"] and gap.loc["rsa", "in_domain_more_at"] == "layer 6"
    assert gap.loc["rsa", "beyond_noise"] == "layers 2-6"


def test_expected_layer_moves():
    mixes = pd.DataFrame([{"model": m, "seed": sd, "probe": "deprel", "expected_layer": e, "center_of_gravity": 3.0}
                          for m, sd, e in (("pre-trained", "-", 2.5), ("parsing", "0", 3.4), ("parsing", "1", 3.6),
                                           ("nli", "0", 2.6), ("nli", "1", float("nan")))])
    moves = findings.expected_layers(mixes).set_index("task")
    assert moves.loc["parsing", "move"] == pytest.approx(1.0) and moves.loc["nli", "move"] == pytest.approx(0.1)


# ---- the verdicts with intervals (lib.experiments.evidence and findings.verdicts)

def _layers(keeps: dict[str, list[float]], informative: bool = True) -> pd.DataFrame:
    """UPOS from 0.80 at layer 0 to 0.90 at layer 3 pre-trained; per task, each seed's best layer
    keeps the given share of that 0.10 gain (a probe "flat" with no gain at all beside it)."""
    rows = [{"model": "pre-trained", "seed": "-", "probe": p, "layer": l, "score": s, "informative": informative}
            for l in range(4) for p, s in (("upos", 0.8 + l / 30), ("flat", 0.84))]
    for task, shares in keeps.items():
        for seed, share in enumerate(shares):
            rows += [{"model": task, "seed": str(seed), "probe": p, "layer": l, "score": s, "informative": informative}
                     for l in range(4) for p, s in (("upos", 0.8 + 0.1 * share * l / 3), ("flat", 0.84))]
    rows += [{**r, "layer": -1} for r in rows[:2]]  # a mix row, left out
    return pd.DataFrame(rows)


def test_kept_gain_is_the_share_of_the_contextual_gain_with_a_seed_interval():
    kept = evidence.kept_gain(_layers({"nli": [0.9, 0.95, 1.0], "parsing": [0.2, 0.3, 0.25]}), min_gain=0.02)
    upos = kept[kept.probe == "upos"].set_index("task")
    assert upos.loc["nli", "kept"] == pytest.approx(0.95) and upos.loc["nli", "method"] == evidence.T_SEEDS
    assert upos.loc["nli", "low"] > findings.KEPT_MIN and upos.loc["parsing", "high"] < findings.KEPT_MIN
    assert not kept[kept.probe == "flat"].informative.any()  # no gain over layer 0: left out
    verdict = findings.forgetting_verdict(kept)
    assert verdict["verdict"] == "not reproduced" and "left out (no contextual gain to keep): flat" in verdict["measured"]
    assert findings.forgetting_verdict(kept[kept.task == "nli"])["verdict"] == "reproduced"


def test_a_probe_flagged_uninformative_is_left_out_and_one_seed_is_inconclusive():
    kept = evidence.kept_gain(_layers({"nli": [0.9]}, informative=False))
    assert not kept.informative.any() and findings.forgetting_verdict(kept)["verdict"] == "not tested"
    kept = evidence.kept_gain(_layers({"nli": [0.9]}))
    upos = kept[kept.probe == "upos"].iloc[0]
    assert np.isnan(upos.low) and findings.judge(upos.low, upos.high, findings.KEPT_MIN) == "inconclusive"


def _items(keep: dict[str, float], n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Per sentence (tp, fp, fn) of a probe at layers 0..2: pre-trained F1 about 0.6, 0.7, 0.8; each
    task's seeds keep ``keep`` of the gain (the same sentences for every model, two probe seeds)."""
    rng = np.random.default_rng(seed)
    words = rng.integers(5, 15, n)
    rows = []
    for model, seeds, share in [("pre-trained", ["-"], 1.0)] + [(t, ["0", "1", "2"], k) for t, k in keep.items()]:
        for s in seeds:
            for layer in range(3):
                rate = 0.6 + 0.1 * layer * share
                for probe_seed in (0, 1):
                    tp = rng.binomial(words, rate)
                    rows += [{"model": model, "seed": s, "probe": "upos", "layer": layer, "probe_seed": probe_seed,
                              "sentence": i, "tp": int(tp[i]), "fp": int(words[i] - tp[i]), "fn": int(words[i] - tp[i])}
                             for i in range(n)]
    return pd.DataFrame(rows)


def _scores(items: pd.DataFrame) -> pd.DataFrame:
    """The layers table the item counts give (pooled over sentences and probe seeds)."""
    sums = items.groupby(["model", "seed", "probe", "layer"], as_index=False)[["tp", "fp", "fn"]].sum()
    return sums.assign(score=2 * sums.tp / (2 * sums.tp + sums.fp + sums.fn))


def test_kept_gain_from_items_is_a_paired_bootstrap_over_seeds_and_sentences():
    items = _items({"nli": 1.0, "parsing": 0.0})
    kept = evidence.kept_gain(_scores(items), items, n_boot=300).set_index("task")
    assert (kept.method == evidence.BOOTSTRAP).all()
    layers = _scores(items)
    pre = layers[layers.model == "pre-trained"].set_index("layer").score
    best = layers[layers.model == "nli"].groupby("seed").score.max().mean()
    assert kept.loc["nli", "kept"] == pytest.approx((best - pre[0]) / (pre.max() - pre[0]))
    assert kept.loc["nli", "low"] < kept.loc["nli", "kept"] < kept.loc["nli", "high"]
    assert findings.judge(kept.loc["nli", "low"], kept.loc["nli", "high"], findings.KEPT_MIN) == "reproduced"
    assert findings.judge(kept.loc["parsing", "low"], kept.loc["parsing", "high"], findings.KEPT_MIN) == "not reproduced"
    again = evidence.kept_gain(_scores(items), items, n_boot=300).set_index("task")
    assert again.loc["nli", "low"] == kept.loc["nli", "low"]  # a fixed seed: the same interval


def _comparisons(gaps: dict[str, list[float]], noise: float = 0.005, seed: int = 0) -> pd.DataFrame:
    """Per task and layer 0..6: three seeds' similarity to the pre-trained model, the seed floor's
    pairs at 0.95 - 0.02 * layer (top-heavy, as depth compounds), and the pre-trained comparison a
    task's ``gaps[layer]`` below the floor."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, gap in gaps.items():
        for layer, g in enumerate(gap):
            floor = 0.95 - 0.02 * layer
            rows += [{"task": task, "inputs": "own", "measure": "rsa", "layer": layer, "seed": i, "other": j,
                      "value": floor + rng.normal(0, noise)} for i, j in ((0, 1), (0, 2), (1, 2))]
            rows += [{"task": task, "inputs": "own", "measure": "rsa", "layer": layer, "seed": i, "other": -1,
                      "value": floor - g + rng.normal(0, noise)} for i in range(3)]
    return pd.DataFrame(rows)


def test_the_top_layers_rule_reads_the_gap_below_the_floor_not_the_raw_change():
    top_heavy = [0, 0, 0, 0, 0.1, 0.2, 0.3]
    gaps = evidence.floor_gaps(_comparisons({"nli": top_heavy, "sentiment": [0.0] * 7, "parsing": [0.1] * 7}))
    top = evidence.top_margin(gaps, findings.MOSTLY).set_index("task")
    words = {t: findings.judge(r.low, r.high, 0.0) for t, r in top.iterrows()}
    # only depth compounding (the pre-trained comparison at the floor): the raw change is top-heavy, the gap is not
    assert words == {"nli": "reproduced", "sentiment": "inconclusive", "parsing": "not reproduced"}
    assert top.loc["nli", "below_at"] == [4, 5, 6] and top.loc["sentiment", "below_at"] == []
    assert findings.top_verdict(top.reset_index())["verdict"] == "not reproduced"


def test_benjamini_hochberg_keeps_null_layers_above_the_floor():
    gaps = evidence.floor_gaps(_comparisons({f"t{i}": [0.0] * 7 for i in range(6)}, noise=0.01, seed=3))
    assert len(gaps) == 42 and (gaps.p < 0.05).any() and not gaps.below.any()  # unadjusted, some null cells pass
    assert (gaps.adjusted >= gaps.p).all()


def _ablation_seeds(losses: dict[str, list[float]]) -> pd.DataFrame:
    """Freezing k = 0, 3, 6 and restoring k = 0, 3: full 0.8 (chance 0.3); per seed, the share of the
    0.5 above chance lost at half (freezing and restoring alike); the frozen encoder at 0.4."""
    rows = []
    for task, shares in losses.items():
        for seed, share in enumerate(shares):
            for experiment, k, value in (("freezing", 0, 0.8), ("freezing", 3, 0.8 - 0.5 * share), ("freezing", 6, 0.4),
                                         ("restore_bottom", 0, 0.8), ("restore_bottom", 3, 0.8 - 0.5 * share)):
                rows.append({"task": task, "seed": seed, "experiment": experiment, "k": k, "metric": "accuracy",
                             "value": value})
    return pd.DataFrame(rows)


CHANCE = pd.Series({("parsing", "accuracy"): 0.3, ("nli", "accuracy"): 0.3, ("parsing", "uas"): 0.3})
METRIC = {"parsing": "accuracy", "nli": "accuracy"}


def test_parsing_deepest_needs_every_line_and_every_other_task():
    deeper = evidence.deeper(evidence.ablation_samples(_ablation_seeds({"parsing": [0.5, 0.55, 0.6], "nli": [0.1, 0.12, 0.14]}),
                                                       CHANCE, METRIC))
    assert set(deeper.line) == set(evidence.LINES) and (deeper.method == evidence.T_SEEDS).all()
    line = deeper.set_index("line").loc["freezing_frozen"]  # (0.8 - half) / (0.8 - 0.4): 1.25 x the chance share
    assert line.share == pytest.approx(0.55 * 1.25) and line.other_share == pytest.approx(0.12 * 1.25)
    assert findings.parsing_verdict(deeper)["verdict"] == "reproduced"
    one_seed = evidence.deeper(evidence.ablation_samples(_ablation_seeds({"parsing": [0.5], "nli": [0.1]}), CHANCE, METRIC))
    assert one_seed.low.isna().all() and findings.parsing_verdict(one_seed)["verdict"] == "inconclusive"


def test_parsing_deepest_from_items_bootstraps_each_task_and_the_lines_must_agree():
    rng = np.random.default_rng(0)
    table = _ablation_seeds({"parsing": [0.5, 0.5], "nli": [0.1, 0.1]})
    items = pd.DataFrame([{"task": r.task, "experiment": r.experiment, "k": r.k, "seed": r.seed, "item": i,
                           "correct": int(rng.random() < r.value), "total": 1} for r in table.itertuples() for i in range(150)])
    deeper = evidence.deeper(evidence.ablation_samples(table, CHANCE, METRIC, items, n_boot=300))
    assert (deeper.method == evidence.BOOTSTRAP).all() and (deeper.low < deeper.difference).all()
    assert findings.parsing_verdict(deeper)["verdict"] == "reproduced"
    flipped = deeper.assign(low=np.where(deeper.line == "freezing_frozen", -0.5, deeper.low),
                            high=np.where(deeper.line == "freezing_frozen", -0.1, deeper.high))
    assert findings.parsing_verdict(flipped)["verdict"] == "inconclusive"  # the normalisations disagree


def _shift_seeds(in_change: list[float], out_changes: dict[str, list[float]]) -> pd.DataFrame:
    """The top layer (6) of one task: each seed's change on SNLI (in-domain) and other domains."""
    rows = [{"task": "nli", "domain": d, "in_domain": d == "snli", "layer": layer, "measure": "rsa", "seed": i,
             "other": -1, "value": 1 - c * layer / 6} for d, changes in {"snli": in_change, **out_changes}.items()
            for i, c in enumerate(changes) for layer in (5, 6)]
    return pd.DataFrame(rows)


def test_the_domain_rule_reads_the_closest_out_of_domain_domain():
    shift = _shift_seeds([0.30, 0.32, 0.34], {"wikipedia": [0.1, 0.1, 0.12], "ewt-email": [0.25, 0.26, 0.28]})
    closest = evidence.domain_closest(shift).iloc[0]
    assert closest.closest == "ewt-email" and closest.gap == pytest.approx(0.32 - 0.79 / 3)
    assert findings.domain_verdict(evidence.domain_closest(shift))["verdict"] == "reproduced"
    shift = _shift_seeds([0.30, 0.32, 0.34], {"wikipedia": [0.1, 0.1, 0.12], "ewt-email": [0.29, 0.34, 0.33]})
    assert findings.domain_verdict(evidence.domain_closest(shift))["verdict"] == "inconclusive"


def test_the_verdicts_table_states_rules_thresholds_and_not_tested():
    kept = evidence.kept_gain(_layers({"nli": [0.9, 0.95, 1.0]}), min_gain=0.02)
    table = findings.verdicts(kept, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert list(table.verdict) == ["reproduced", "not tested", "not tested", "not tested"]
    assert "0.50" in table.rule.iloc[0] and "0.95 [" in table.measured.iloc[0]
