"""From a chapter's parameters to what its stages need: one call, at the top of every chapter.

A chapter's ``parameters`` cell is the papermill contract (typed literals, the ``cpu`` profile's
values). The next cell is ``settings = lib.chapter_settings(globals())``: it checks every
parameter the chapter declares (:func:`lib.book.parameters.check_parameters`), seeds the global
generators, resolves the runtime once (device, precision, data folder; ``""`` is no folder) and
builds the stage settings whose parameters the chapter declares. The command line builds the
same object from a profile (:func:`stage_settings`), so a chapter, a command and a test reach a
stage by one road.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from lib.book.parameters import check_parameters, parameter_types, seed_everything
from lib.encoders.runtime import Runtime, resolve_runtime
from lib.experiments.ablation import Ablation
from lib.experiments.inputs import Similarity
from lib.experiments.shift import DomainShift
from lib.finetune.config import Finetuning
from lib.probing.runner import Probing

STAGES = {"finetuning": Finetuning, "probing": Probing, "similarity": Similarity, "ablation": Ablation,
          "shift": DomainShift}


@dataclass(frozen=True)
class Settings:
    """Checked parameters, the resolved runtime, and each stage's settings (None where the
    parameters that set a stage are not all given)."""

    parameters: Mapping
    runtime: Runtime
    finetuning: Finetuning | None = None
    probing: Probing | None = None
    similarity: Similarity | None = None
    ablation: Ablation | None = None
    shift: DomainShift | None = None

    def __getitem__(self, name: str):
        """A parameter's checked value: ``settings["n_test"]``."""
        return self.parameters[name]


def stage_settings(values: Mapping, distributed: bool = False) -> Settings:
    """:class:`Settings` of checked parameter ``values``: the runtime resolved (``device``,
    ``data_dir``; ``auto`` when absent), every stage whose parameters are all there.

    >>> settings = stage_settings({"device": "cpu", "data_dir": "", "n_sentences": 5})
    >>> settings.runtime.device, settings.runtime.data_dir, settings.finetuning, settings["n_sentences"]
    ('cpu', None, None, 5)
    """
    values = dict(values)
    runtime = resolve_runtime(values.get("device", "auto"), values.get("data_dir") or None, distributed=distributed)
    stages = {name: stage.from_parameters(values) for name, stage in STAGES.items()
              if set(stage.PARAMETERS) <= set(values)}
    return Settings(parameters=values, runtime=runtime, **stages)


def chapter_settings(namespace: Mapping) -> Settings:
    """The one call after a chapter's parameters cell: every parameter in ``namespace`` (the
    chapter's ``globals()``) checked, the global generators seeded with ``seed``, the chart theme
    on, and :func:`stage_settings` of them."""
    from lib.book import charts

    names = parameter_types()
    values = check_parameters(**{name: namespace[name] for name in names if name in namespace})
    seed_everything(values.get("seed", 0))  # python, numpy and torch; the library seeds its own steps
    charts.enable()
    return stage_settings(values)
