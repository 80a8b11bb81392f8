"""The book's parameters: profiles (``smoke``, ``cpu``, ``paper``) and the strict check every chapter calls.

A profile is one flat YAML file of chapter parameters in ``lib/profiles/`` (package data beside
the subpackages); papermill takes it as a parameter file (``papermill -f lib/profiles/smoke.yml
...``). The ``cpu`` profile is the schema: its keys are the valid parameter names and the types
of its values are their types. Every chapter's ``parameters`` cell holds the ``cpu`` values as its
defaults. The library below the book never sees a profile: the chapters and the command line
unpack it into explicit arguments and the stage settings (:class:`lib.finetune.Finetuning`,
:class:`lib.experiments.Ablation`, :class:`lib.experiments.DomainShift`).
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
import yaml

from lib.finetune.config import Finetuning

PROFILE_DIR = Path(__file__).parents[1] / "profiles"
SCHEMA_PROFILE = "cpu"


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yml"))


def profile_file(name: str) -> Path:
    """The YAML parameter file of profile ``name`` (raises ValueError listing the valid ones)."""
    if name not in profile_names():
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(profile_names())}")
    return PROFILE_DIR / f"{name}.yml"


def load_profile(name: str) -> dict:
    """The parameters of profile ``name``."""
    with open(profile_file(name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def parameter_types() -> dict[str, type]:
    """Valid parameter names and their types (from the ``cpu`` profile)."""
    return {key: type(value) for key, value in load_profile(SCHEMA_PROFILE).items()}


def check_parameters(**values) -> dict:
    """Validate chapter parameters and seed everything; returns them as a dict.

    Unknown names, wrong types and an unknown profile are ``ValueError`` s that list what is valid.
    An ``int`` is accepted where a ``float`` is expected.

    >>> check_parameters(profile="smoke", seed=1)["seed"]
    1
    >>> check_parameters(n_sentence=5)
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter 'n_sentence'; valid: ...n_sentences...
    """
    types = parameter_types()
    for name, value in values.items():
        if name not in types:
            raise ValueError(f"unknown parameter {name!r}; valid: {', '.join(sorted(types))}")
        expected = types[name]
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if not ok and not (expected is float and isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f"parameter {name!r} must be {expected.__name__}, got {value!r} "
                             f"({type(value).__name__})")
    if "profile" in values:
        profile_file(values["profile"])
    if "seed" in values:
        seed_everything(values["seed"])
    return dict(values)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def profile_finetuning(profile: str, overrides: dict | None = None) -> Finetuning:
    """The fine-tuning stage that profile ``profile``, with parameter ``overrides``, sets.

    The one place besides the chapters that maps parameter names onto :class:`Finetuning`'s
    fields (the command line, the benchmarks and the tests use it); check the values first with
    :func:`check_parameters`.
    """
    values = {**load_profile(profile), **(overrides or {})}
    return Finetuning(model=values["model"], seeds=values["seeds"], nli_dataset=values["nli_dataset"],
                      n_train=values["n_train"], n_dev=values["n_dev"], n_test=values["n_test"],
                      epochs=values["epochs"], batch_size=values["train_batch_size"],
                      learning_rate=values["learning_rate"], head_learning_rate=values["head_learning_rate"],
                      max_length=values["max_length"])
