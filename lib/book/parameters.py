"""The book's parameters: profiles (``smoke``, ``cpu``, ``paper``) and the strict check every chapter calls.

A profile is one flat YAML file of chapter parameters in ``lib/profiles/`` (package data beside
the subpackages); papermill takes it as a parameter file (``papermill -f lib/profiles/smoke.yml
...``). The ``cpu`` profile is the schema: its keys are the valid parameter names and the types
of its values are their types. Every chapter's ``parameters`` cell holds the ``cpu`` values as its
defaults. The library below the book never sees a profile: :func:`lib.book.settings.stage_settings`
turns checked parameters into the runtime and the stage settings (:class:`lib.finetune.Finetuning`,
:class:`lib.probing.Probing`, :class:`lib.experiments.Similarity`, :class:`lib.experiments.Ablation`,
:class:`lib.experiments.DomainShift`), for the chapters and the command line alike.
"""
from __future__ import annotations

import json

import random
from pathlib import Path

import numpy as np
import torch
import yaml

from lib.finetune.config import NLI_DATASETS, is_int, is_number
from lib.finetune.tasks import TASKS
from lib.errors import InputError

PROFILE_DIR = Path(__file__).parents[1] / "profiles"
SCHEMA_PROFILE = "cpu"


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yml"))


def profile_file(name: str) -> Path:
    """The YAML parameter file of profile ``name`` (raises ValueError listing the valid ones)."""
    if name not in profile_names():
        raise InputError(f"unknown profile {name!r}; valid: {', '.join(profile_names())}")
    return PROFILE_DIR / f"{name}.yml"


def load_profile(name: str) -> dict:
    """The parameters of profile ``name``."""
    with open(profile_file(name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def calibration(name: str) -> dict | None:
    """The learning-rate calibration of profile ``name`` (written by ``bench/calibrate.py``): the
    grid, the dev score of each task at each rate (``rows``) and the ``best`` rate; None where the
    profile has none."""
    profile_file(name)
    path = PROFILE_DIR / f"calibration-{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def parameter_types() -> dict[str, type]:
    """Valid parameter names and their types (from the ``cpu`` profile)."""
    return {key: type(value) for key, value in load_profile(SCHEMA_PROFILE).items()}


def _count(low: int):
    """An integer >= ``low``."""
    def check(value):
        return None if is_int(value) and value >= low else f"an integer >= {low}"
    return check


def _positive(value):
    return None if is_number(value) and value > 0 else "a number > 0"


def _choice(*valid):
    def check(value):
        return None if value in valid else f"one of {', '.join(map(str, valid))}"
    return check


def _list_of(element, nonempty: bool = True):
    """A list of distinct elements that each pass ``element``."""
    def check(value):
        if nonempty and not value:
            return "a non-empty list"
        for item in value:
            problem = element(item)
            if problem:
                return f"a list whose elements are each {problem}; {item!r} is not"
        if len({repr(v) for v in value}) != len(value):
            return "a list without repeats"
        return None
    return check


def _per_task(element):
    """A mapping from task names to values that each pass ``element``."""
    def check(value):
        unknown = [k for k in value if k not in TASKS]
        if unknown:
            return f"a mapping from tasks ({', '.join(TASKS)}) to values; {unknown[0]!r} is no task"
        for task, item in value.items():
            problem = element(item)
            if problem:
                return f"a mapping from tasks to {problem}; {task}: {item!r} is not"
        return None
    return check


def _nonempty_text(value):
    return None if value.strip() else "a non-empty name"


def _folder_or_empty(value):
    return None if not value or Path(value).expanduser().is_dir() else "an existing folder (or empty for the default)"


def _device(value):
    kind, _, index = value.partition(":")
    ok = value == "auto" or (kind in ("cpu", "cuda", "mps") and (not index or index.isdigit()))
    return None if ok else "auto, cpu, cuda, cuda:<n> or mps"


def _profile(value):
    profile_file(value)  # "unknown profile ...; valid: ..."


def _rules() -> dict:
    """Per parameter, a check of its value beyond its type: ranges, choices, element types."""
    from lib.experiments.shift import DOMAINS
    from lib.probing.runner import PROBE_TASKS

    zero_is_all = _count(0)
    return {
        "profile": _profile, "model": _nonempty_text, "control_model": _nonempty_text,
        "device": _device, "seed": _count(0), "data_dir": _folder_or_empty, "pooling": _choice("first", "mean"),
        "batch_size": _count(1), "n_sentences": _count(1), "n_pairs": _count(1), "top_k": _count(1),
        "tasks": _list_of(_choice(*TASKS)), "seeds": _list_of(_count(0)), "nli_dataset": _choice(*NLI_DATASETS),
        "n_train": _per_task(zero_is_all), "n_dev": zero_is_all, "n_test": zero_is_all, "train_steps": _count(1),
        "train_batch_size": _count(1), "learning_rate": _positive, "head_learning_rate": _positive,
        "max_length": _per_task(_count(8)),
        "probe_tasks": _list_of(_choice(*PROBE_TASKS)), "probe_train_sentences": zero_is_all,
        "probe_test_sentences": zero_is_all, "probe_epochs": _count(1), "structural_epochs": _count(1),
        "probe_rank": _count(1), "similarity_tokens": _count(3),
        "rdm_method": _choice("cosine", "correlation", "euclidean"),
        "ablation_grid": _list_of(_count(0)), "ablation_seeds": _list_of(_count(0)),
        "ablation_n_train": _per_task(zero_is_all),
        "ablation_batch_size": _per_task(_count(1)), "ablation_n_eval": zero_is_all,
        "shift_domains": _per_task(_list_of(_choice(*DOMAINS))), "shift_sentences": _count(1),
        "shift_tokens": _count(3), "shift_eval": zero_is_all,
    }


def check_parameters(**values) -> dict:
    """Validate chapter parameters before any work; returns them as a dict. Seeds nothing
    (:func:`seed_everything` is its own call).

    Each is checked by name (unknown names are refused), by type (an ``int`` is accepted where a
    ``float`` is expected) and then by its own rule: a range, a choice, the type of each element
    of a list or mapping. Every failure is an :class:`lib.errors.InputError` (a ``ValueError``)
    that says what is valid.

    >>> check_parameters(profile="smoke", seed=1)["seed"]
    1
    >>> check_parameters(n_sentence=5)
    Traceback (most recent call last):
    ...
    lib.errors.InputError: unknown parameter 'n_sentence'; valid: ...n_sentences...
    >>> check_parameters(n_sentences=-5)
    Traceback (most recent call last):
    ...
    lib.errors.InputError: parameter 'n_sentences' must be an integer >= 1, got -5
    """
    types, rules = parameter_types(), _rules()
    for name, value in values.items():
        if name not in types:
            raise InputError(f"unknown parameter {name!r}; valid: {', '.join(sorted(types))}")
        expected = types[name]
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if not ok and not (expected is float and isinstance(value, int) and not isinstance(value, bool)):
            raise InputError(f"parameter {name!r} must be {expected.__name__}, got {value!r} "
                             f"({type(value).__name__})")
        problem = rules[name](value) if name in rules else None
        if problem:
            raise InputError(f"parameter {name!r} must be {problem}, got {value!r}")
    return dict(values)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (on every device).

    The book's own randomness is seeded where it is used (training steps, probes, samples); this
    seeds whatever else a reader's code draws. Deterministic GPU kernels are asked for only while
    a model trains (:func:`lib.encoders.runtime.deterministic_kernels`), not for the whole process.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
