"""Chapter 1's takeaways: what its prose states about the layers of a pre-trained encoder.

:func:`facts` reads the tidy table of :func:`lib.encoders.describe_layers` (one row per model,
layer and metric) and returns the numbers and phrases the chapter glues: where the anisotropy
peaks, which dimension carries the cosine there and at which layers, how the random-init control
compares, and how the last layer relates to the one below it.
"""
from __future__ import annotations

import pandas as pd


def metric_by_layer(layers: pd.DataFrame, name: str, model: str) -> pd.DataFrame:
    """The rows of one metric of one model, indexed by layer.

    >>> t = pd.DataFrame({"model": ["m", "m", "c"], "layer": [0, 1, 0], "metric": "norm", "value": [1.0, 2.0, 3.0]})
    >>> metric_by_layer(t, "norm", "m").value.tolist()
    [1.0, 2.0]
    """
    return layers[(layers.model == model) & (layers.metric == name)].set_index("layer")


def rogue_phrases(rogue: pd.DataFrame, peak: int) -> dict:
    """The top dimension at layer ``peak``, the layers it tops too (``rogue_span``) and the share of
    the cosine it carries there (``rogue_shares``); ``rogue``: the ``rogue_share`` rows by layer."""
    dimension = int(rogue.top_dimension[peak])
    same = rogue.index[rogue.top_dimension == dimension]
    return {
        "rogue_dim": dimension,
        "rogue_span": "every layer" if len(same) == len(rogue) else
                      "layers " + ", ".join(str(int(layer)) for layer in same),
        "rogue_shares": f"{rogue.value[same].min():.0%} to {rogue.value[same].max():.0%}" if len(same) > 1 else
                        f"{rogue.value[peak]:.0%}",
    }


def facts(layers: pd.DataFrame, model: str, control_model: str, top_k: int) -> dict:
    """The values chapter 1's prose cites, by glue name.

    ``layers``: (model, layer, metric, value, top_dimension) with the metrics ``anisotropy``,
    ``rogue_share`` and ``cka_next`` for ``model`` and ``control_model``.

    >>> rows = [("m", layer, metric, value, dim) for layer, (a, r, c, dim) in
    ...         enumerate([(0.1, 0.5, 0.9, 7), (0.3, 0.6, 0.8, 7), (0.2, 0.4, None, 2)])
    ...         for metric, value in (("anisotropy", a), ("rogue_share", r), ("cka_next", c)) if value is not None]
    >>> rows += [("c", layer, "anisotropy", 0.35, 1) for layer in range(3)]
    >>> t = pd.DataFrame(rows, columns=["model", "layer", "metric", "value", "top_dimension"])
    >>> f = facts(t, "m", "c", top_k=3)
    >>> f["peak_layer"], f["rogue_dim"], f["rogue_span"], f["rogue_shares"], f["last_cka_rank"]
    (1, 7, 'layers 0, 1', '50% to 60%', 'the lowest of any two adjacent layers')
    >>> f["control_aniso"]
    '0.350 to 0.350 at every layer'
    """
    aniso = metric_by_layer(layers, "anisotropy", model).value
    cka = metric_by_layer(layers, "cka_next", model).value
    control = metric_by_layer(layers, "anisotropy", control_model).value
    peak, last = int(aniso.idxmax()), int(aniso.index.max())
    return {
        "aniso_first": float(aniso.iloc[0]), "aniso_peak": float(aniso.max()), "peak_layer": peak,
        **rogue_phrases(metric_by_layer(layers, "rogue_share", model), peak),
        "top_k": top_k, "control_aniso": f"{control.min():.3f} to {control.max():.3f} at every layer",
        "last_aniso": float(aniso[last]), "last_cka": float(cka[last - 1]),
        "last_cka_rank": "the lowest of any two adjacent layers" if cka.idxmin() == last - 1 else
                         f"where the lowest pair is layers {int(cka.idxmin())} and {int(cka.idxmin()) + 1}",
    }
