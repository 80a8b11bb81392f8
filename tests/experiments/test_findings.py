"""The closing chapter's verdict rules, on tables made to pass or fail each rule."""
import pandas as pd
import pytest

from lib.experiments import findings


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


@pytest.mark.parametrize("floors, losses, shift_in_more, expected", [
    ({"parsing": 2, "nli": 5}, {"parsing": 0.3, "nli": 0.05}, True,
     ["reproduced", "partly", "reproduced", "reproduced"]),
    ({"parsing": 5, "nli": 2}, {"parsing": 0.05, "nli": 0.3}, False,
     ["reproduced", "partly", "not reproduced", "not reproduced"]),
    ({"parsing": 4, "nli": 5}, {"parsing": 0.05, "nli": 0.3}, True,
     ["reproduced", "reproduced", "partly", "reproduced"]),
])
def test_verdicts_follow_the_rules(floors, losses, shift_in_more, expected):
    depth = findings.depth_of_change(_similarity(floors))
    table = findings.verdicts(findings.forgetting(_probes(0.0)), depth, depth,
                              findings.freezing_cost(_ablation(losses), {"nli": "accuracy", "parsing": "accuracy"}),
                              findings.domain_gap(_shift(shift_in_more)))
    assert list(table.verdict) == expected
    assert all(table.evidence.str.len() > 10)


def test_a_profile_without_parsing_does_not_test_the_parsing_finding():
    depth = findings.depth_of_change(_similarity({"nli": 5}))
    table = findings.verdicts(findings.forgetting(_probes(0.0)), depth, depth,
                              findings.freezing_cost(_ablation({"nli": 0.1}), {"nli": "accuracy"}),
                              findings.domain_gap(_shift(True)))
    assert table.verdict.iloc[2] == "not tested"


def test_a_tie_with_the_floor_near_one_is_not_a_change():
    table = _similarity({"nli": 5})
    table.loc[table.layer == 0, ["value", "seed_floor"]] = [0.9991, 0.9996]  # below, but by less than the margin
    assert findings.depth_of_change(table).first_below_floor.iloc[0] == 5


def test_the_depth_comparison_reads_the_shared_text_and_the_top_layers_rule_the_own_text():
    """Parsing deepest on its own text but not on the shared pool: finding 3 follows the shared pool."""
    own, shared = (findings.depth_of_change(_similarity(floors)) for floors in
                   ({"parsing": 1, "nli": 5}, {"parsing": 5, "nli": 2}))
    frozen = findings.freezing_cost(_ablation({"parsing": 0.3, "nli": 0.05}), {"nli": "accuracy", "parsing": "accuracy"})
    table = findings.verdicts(findings.forgetting(_probes(0.0)), own, shared, frozen, findings.domain_gap(_shift(True)))
    assert table.verdict.iloc[2] == "partly" and "on Wikipedia, parsing leaves the seed floor at layer 5" in table.evidence.iloc[2]
    assert table.evidence.iloc[1].startswith("on each task's own text")


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


def test_expected_layer_moves_join_the_forgetting_evidence():
    mixes = pd.DataFrame([{"model": m, "seed": sd, "probe": "deprel", "expected_layer": e, "center_of_gravity": 3.0}
                          for m, sd, e in (("pre-trained", "-", 2.5), ("parsing", "0", 3.4), ("parsing", "1", 3.6),
                                           ("nli", "0", 2.6), ("nli", "1", float("nan")))])
    moves = findings.expected_layers(mixes).set_index("task")
    assert moves.loc["parsing", "move"] == pytest.approx(1.0) and moves.loc["nli", "move"] == pytest.approx(0.1)
    depth = findings.depth_of_change(_similarity({"parsing": 2, "nli": 5}))
    frozen = findings.freezing_cost(_ablation({"parsing": 0.3, "nli": 0.05}), {"nli": "accuracy", "parsing": "accuracy"})
    table = findings.verdicts(findings.forgetting(_probes(0.0)), depth, depth, frozen, findings.domain_gap(_shift(True)),
                              findings.expected_layers(mixes))
    assert "largest move of an expected layer: parsing deprel 2.50 -> 3.50" in table.evidence.iloc[0]
