"""Chapter 7's takeaways: the verdict and probe tables and the phrases its prose cites.

The verdicts come from :func:`lib.experiments.findings.verdicts` on the quantities of
:mod:`lib.experiments.evidence` that chapter 7 computes: ``kept`` (:func:`~lib.experiments.evidence.kept_gain`),
``gaps`` (:func:`~lib.experiments.evidence.floor_gaps`), ``top`` (:func:`~lib.experiments.evidence.top_margin`),
``deeper`` (:func:`~lib.experiments.evidence.deeper`) and ``closest``
(:func:`~lib.experiments.evidence.domain_closest`). The facts other chapters state too come from the
descriptive tables (``forgot``, ``depth_own``, ``depth_shared``, ``frozen``) of
:mod:`lib.experiments.findings`, so that every page states them alike.
"""
from __future__ import annotations

import pandas as pd

from lib.book.takeaways.ablation import freezing_facts, mean_scores, tasks_of
from lib.experiments import findings
from lib.stats import LEVEL, Interval

FINDINGS = ["forgetting", "top", "parsing", "domain"]  # the rows of the verdicts table, in order


SHORT = {"forgetting": "No catastrophic forgetting", "top": "Changes sit mostly in the top layers",
         "parsing": "Parsing reaches deepest", "domain": "In-domain sentences change more"}


def verdict_units(kept: pd.DataFrame, top: pd.DataFrame, deeper: pd.DataFrame, closest: pd.DataFrame) -> pd.DataFrame:
    """Every unit a rule judges, one row each: ``finding`` (:data:`SHORT`), ``unit`` (such as
    "nli · coreference"), ``estimate``, ``low``, ``high``, the rule's ``threshold``, what is
    ``measure``d, and the unit's ``verdict`` (:func:`lib.experiments.findings.judge`)."""
    used = kept[kept.informative]
    parts = [
        (SHORT["forgetting"], [f"{_task(t)} model, {_PROBE.get(p, p)} probe" for t, p in zip(used.task, used.probe)],
         used.kept, used.low, used.high, findings.KEPT_MIN, "share of the probe's gain kept"),
        (SHORT["top"], [f"{_task(t)} model" for t in top.task], top.margin, top.low, top.high, 0.0,
         "margin: mostly x top gap - bottom gap"),
        (SHORT["parsing"], [f"{_LINE.get(line, line)}: parser vs {_task(other)}" for line, other in
                            zip(deeper.line, deeper.other)], deeper.difference, deeper.low,
         deeper.high, findings.DEEPER, "parser's share lost - the other's"),
        (SHORT["domain"], [f"{_task(t)} model, {m.upper()}" for t, m in zip(closest.task, closest.measure)],
         closest.gap, closest.low, closest.high, findings.DOMAIN, "in-domain change - closest domain's"),
    ]
    frames = [pd.DataFrame({"finding": finding, "unit": list(unit), "estimate": list(est), "low": list(low),
                            "high": list(high), "threshold": threshold, "measure": measure})
              for finding, unit, est, low, high, threshold, measure in parts if len(unit)]
    units = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["finding", "unit", "estimate", "low", "high", "threshold", "measure"])
    return units.assign(verdict=[findings.judge(r.low, r.high, r.threshold) for r in units.itertuples()])


# A case as a newcomer reads it: "restoring layers: parser vs NLI", "NLI model, coreference probe".
_LINE = {"freezing_chance": "freezing layers", "freezing_frozen": "freezing, gain over frozen",
         "restoring_chance": "restoring layers"}
_TASK = {"nli": "NLI", "qa": "QA", "sentiment": "sentiment", "parsing": "parsing"}
_PROBE = {"upos": "part-of-speech", "deprel": "dependency-label", "structural": "structural", "entities": "entity",
          "coreference": "coreference", "constituents": "constituent"}


def _task(task: str) -> str:
    return _TASK.get(task, task)


def weakest_units(units: pd.DataFrame) -> pd.DataFrame:
    """Each finding's weakest unit (lowest interval, else lowest estimate), one row a finding in the
    order of :data:`FINDINGS`: what the introduction's summary figure draws. ``units`` from
    :func:`verdict_units`.

    >>> units = pd.DataFrame({"finding": SHORT["top"], "unit": ["nli", "parsing"], "estimate": [0.3, 0.1],
    ...                       "low": [0.2, -0.1], "high": [0.4, 0.3], "threshold": 0.0, "measure": "margin",
    ...                       "verdict": ["reproduced", "inconclusive"]})
    >>> weakest_units(units).unit.tolist()
    ['parsing']
    """
    rows = [_weakest(units[units.finding == SHORT[name]]) for name in FINDINGS]
    return pd.DataFrame([row for row in rows if row is not None], columns=units.columns).reset_index(drop=True)


def _weakest(part: pd.DataFrame) -> pd.Series | None:
    """The unit with the lowest interval (lowest estimate where none has one); None for no unit."""
    if not len(part):
        return None
    return part.loc[(part.low if part.low.notna().any() else part.estimate).idxmin()]


def verdict_table(verdicts: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """The verdicts on one screen, one finding a row and one value per cell: the verdict, what the
    rule compares with its threshold, how many units it judged reproduced, and the weakest unit
    (lowest interval) with its estimate and interval. ``units`` from :func:`verdict_units`.

    >>> units = pd.DataFrame({"finding": SHORT["top"], "unit": ["nli", "parsing"], "estimate": [0.3, 0.1],
    ...                       "low": [0.2, -0.1], "high": [0.4, 0.3], "threshold": 0.0, "measure": "margin",
    ...                       "verdict": ["reproduced", "inconclusive"]})
    >>> verdicts = pd.DataFrame({"verdict": ["inconclusive"] * 4})
    >>> verdict_table(verdicts, units).iloc[1].tolist()
    ['inconclusive', 'margin > 0.00', '1 of 2', 'parsing', '0.10 [-0.10, 0.30]']
    """
    rows = []
    for name, verdict in zip(FINDINGS, verdicts.verdict):
        part = units[units.finding == SHORT[name]]
        row = {"finding": SHORT[name], "verdict": verdict, "rule": "", "cases reproduced": "",
               "weakest case": "", "its estimate [interval]": ""}
        if len(part):
            weakest = _weakest(part)
            row.update({"rule": f"{part.measure.iloc[0]} > {part.threshold.iloc[0]:.2f}",
                        "cases reproduced": f"{(part.verdict == 'reproduced').sum()} of {len(part)}",
                        "weakest case": weakest.unit,
                        "its estimate [interval]": str(Interval(weakest.estimate, weakest.low, weakest.high))})
        rows.append(row)
    return pd.DataFrame(rows).set_index("finding")


def probe_table(kept: pd.DataFrame) -> pd.DataFrame:
    """Per (task, probe): the pre-trained layer 0 and best layer, the fine-tuned best layer (mean of
    seeds), the share of the contextual gain kept with its interval, and its verdict.

    >>> kept = pd.DataFrame({"task": ["nli"], "probe": ["upos"], "layer0": [0.8], "pre_trained": [0.9],
    ...                      "fine_tuned": [0.89], "kept": [0.9], "low": [0.85], "high": [0.95],
    ...                      "informative": [True], "method": ["t over seeds"]})
    >>> probe_table(kept).iloc[0, 3:].tolist()
    ['0.90 [0.85, 0.95]', 'reproduced']
    """
    rows = kept.assign(
        kept=[str(Interval(r.kept, r.low, r.high)) if r.informative else "left out" for r in kept.itertuples()],
        verdict=[findings.judge(r.low, r.high, findings.KEPT_MIN) if r.informative else "not tested"
                 for r in kept.itertuples()])
    columns = {"layer0": "pre-trained, layer 0", "pre_trained": "pre-trained, best layer",
               "fine_tuned": "fine-tuned, best layer", "kept": "share of the gain kept", "verdict": "verdict"}
    return rows.set_index(["task", "probe"])[list(columns)].round(3).rename(columns=columns)


def intervals(units: pd.DataFrame) -> dict[str, str]:
    """Each finding's deciding quantity as the intro and other pages cite it, by glue name: the
    weakest unit its rule judges (the lowest interval: a finding that must hold for every unit holds
    only as far as that one), as "estimate [low, high]" (``i_forgetting``, ``i_top``, ...), the unit
    (``i_forgetting_unit``), the rule's threshold (``i_forgetting_min``, a number; NaN: none) and how many units it judged
    reproduced (``i_forgetting_count``, "1 of 2"). ``units`` from :func:`verdict_units`; a finding
    with no unit reads "not measured".

    >>> units = pd.DataFrame({"finding": SHORT["top"], "unit": ["nli", "parsing"], "estimate": [0.3, 0.1],
    ...                       "low": [0.2, -0.1], "high": [0.4, 0.3], "threshold": 0.0, "measure": "margin",
    ...                       "verdict": ["reproduced", "inconclusive"]})
    >>> f = intervals(units)
    >>> f["i_top"], f["i_top_unit"], f["i_top_min"], f["i_top_count"], f["i_domain"]
    ('0.100 [-0.100, 0.300]', 'parsing', 0.0, '1 of 2', 'not measured')
    """
    facts = {}
    for name in FINDINGS:
        part = units[units.finding == SHORT[name]]
        if not len(part):
            facts.update({f"i_{name}": "not measured", f"i_{name}_unit": "none", f"i_{name}_min": float("nan"),
                          f"i_{name}_count": "none"})
            continue
        weakest = _weakest(part)
        digits = 3 if name in ("top", "domain") else 2  # margins and gaps of similarity are small numbers
        facts.update({f"i_{name}": Interval(weakest.estimate, weakest.low, weakest.high).format(digits),
                      f"i_{name}_unit": str(weakest.unit), f"i_{name}_min": float(weakest.threshold),
                      f"i_{name}_count": f"{(part.verdict == 'reproduced').sum()} of {len(part)}"})
    return facts


def thresholds(gaps: pd.DataFrame) -> dict:
    """The thresholds the rules decide by, by glue name, and the number of layer cells tested together."""
    return {"kept_min": findings.KEPT_MIN, "min_gain": findings.MIN_GAIN, "mostly": findings.MOSTLY,
            "fdr": findings.FDR, "deeper_margin": findings.DEEPER, "domain_margin": findings.DOMAIN,
            "ci_level": f"{LEVEL:.0%}", "n_floor_cells": len(gaps)}


def restoring_costs(ablation: pd.DataFrame, n_layers: int) -> dict[str, str]:
    """The score lost by restoring the top layer (``top_cost``, a range over tasks) and the
    embeddings and layer 1 (``bottom_cost``, the largest), mean of seeds.

    >>> ablation = pd.DataFrame({"task": "nli", "seed": 0, "metric": "accuracy", "value": [0.8, 0.7, 0.6],
    ...                          "experiment": ["restore_bottom", "restore_top", "restore_bottom"], "k": [0, 1, 1]})
    >>> restoring_costs(ablation, 2)
    {'top_cost': '0.100 to 0.100', 'bottom_cost': '0.200'}
    """
    restore = mean_scores(ablation).set_index(["task", "experiment", "k"]).value
    full = {t: restore[(t, "restore_bottom", 0)] for t in sorted(set(ablation.task))
            if (t, "restore_bottom", 0) in restore}
    costs = {name: [full[t] - restore[(t, experiment, k)] for t in full if (t, experiment, k) in restore]
             for name, experiment, k in (("top", "restore_top", n_layers - 1), ("bottom", "restore_bottom", 1))}
    top, bottom = costs["top"], costs["bottom"]
    return {"top_cost": f"{min(top):.3f} to {max(top):.3f}" if top else "not measured",
            "bottom_cost": f"{max(bottom):.3f}" if bottom else "not measured"}


def facts(verdicts: pd.DataFrame, kept: pd.DataFrame, gaps: pd.DataFrame, top: pd.DataFrame, deeper: pd.DataFrame,
          closest: pd.DataFrame, layers: pd.DataFrame, ablation: pd.DataFrame, n_train: dict[str, int]) -> dict:
    """The phrases and numbers chapter 7's prose (and the introduction) cite, by glue name: each
    finding's verdict (``v_*``) and the interval of its weakest unit (``i_*``, :func:`intervals`), the
    thresholds, the cost of restoring, the pre-trained structural probe, and the scale (``n_train``:
    the fine-tuning examples per task, 0: all). The evidence unit by unit is the verdict figure's."""
    structural = layers[(layers.model == "pre-trained") & (layers.probe == "structural")].set_index("layer").score
    structural = structural[structural.index >= 0]
    top_k = int(layers.layer.max())
    return {**{f"v_{name}": verdict for name, verdict in zip(FINDINGS, verdicts.verdict)},
            **intervals(verdict_units(kept, top, deeper, closest)),
            **thresholds(gaps), **restoring_costs(ablation, top_k),
            "uuas_best": float(structural.max()), "uuas_best_layer": int(structural.idxmax()),
            "uuas_top": float(structural.iloc[-1]), "top_layer": top_k,
            "n_train_phrase": " / ".join(f"{n_train[t]:,}" if n_train[t] else "all" for t in tasks_of(ablation)),
            "n_seeds": layers.seed[layers.model != "pre-trained"].nunique(),
            "n_ablation_seeds": ablation.seed.nunique()}


def stated_facts(forgot: pd.DataFrame, depth_own: pd.DataFrame, depth_shared: pd.DataFrame, frozen: pd.DataFrame,
                 chance: pd.Series, n_eval: int) -> dict:
    """Facts the other chapters state too, by glue name, so that the book's consistency check holds
    every page to one value; ``chance`` per (task, metric), ``n_eval``: the ablations' test examples."""
    return {**{f"best_change.{r.task}.{r.probe}": round(r.change, 3) + 0.0 for r in forgot.itertuples()},
            **{f"floor_layer.{r.task}.wikipedia": findings.floor_layer(r.first_below_floor) or "none"
               for r in depth_shared.itertuples()},
            **{f"floor_layer.{r.task}.own": findings.floor_layer(r.first_below_floor) or "none"
               for r in depth_own.itertuples()},
            **{f"most_changed.{r.task}.own": int(r.most_changed_layer) for r in depth_own.itertuples()},
            **freezing_facts(frozen, chance, n_eval)}
