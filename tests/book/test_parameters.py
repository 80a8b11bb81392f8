"""Profiles and the strict parameter check."""
import re

import pytest
import torch

from lib.book.parameters import (check_parameters, load_profile, parameter_types, profile_file, profile_names,
                                 seed_everything)


def test_every_profile_has_the_schema_keys_and_types():
    types = parameter_types()
    assert profile_names() == ["cpu", "gpu", "paper", "smoke"]
    for name in profile_names():
        profile = load_profile(name)
        assert profile["profile"] == name
        assert {key: type(value) for key, value in profile.items()} == types, name
        check_parameters(**profile)


def test_unknown_profile_and_parameter_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown profile 'tpu'; valid: cpu, gpu, paper, smoke"):
        profile_file("tpu")
    with pytest.raises(ValueError, match="unknown profile"):
        check_parameters(profile="tpu")
    with pytest.raises(ValueError, match="unknown parameter 'n_sentence'; valid: .*n_sentences"):
        check_parameters(n_sentence=3)


@pytest.mark.parametrize("name, value", [("n_sentences", "100"), ("n_sentences", 1.5), ("seed", True),
                                         ("model", 3)])
def test_wrong_types_are_errors(name, value):
    with pytest.raises(ValueError, match=f"parameter '{name}' must be"):
        check_parameters(**{name: value})


@pytest.mark.parametrize("name, value, message", [
    ("n_sentences", -5, "an integer >= 1"), ("probe_train_sentences", -1, "an integer >= 0"),
    ("n_train", {"nli": -1}, "a mapping from tasks to an integer >= 0; nli: -1"),
    ("n_train", {"pos": 5}, "'pos' is no task"), ("train_batch_size", 0, "an integer >= 1"),
    ("seeds", ["a"], "elements are each an integer >= 0; 'a' is not"), ("seeds", [], "a non-empty list"),
    ("seeds", [0, 0], "without repeats"), ("tasks", ["nli", "pos"], "one of nli, sentiment, parsing, qa"),
    ("learning_rate", 0, "a number > 0"), ("pooling", "max", "one of first, mean"),
    ("device", "tpu", "auto, cpu, cuda"), ("rdm_method", "cosin", "one of cosine"),
    ("shift_domains", {"nli": ["snli", "mars"]}, "'mars' is not"), ("probe_tasks", ["upos", "ner"], "'ner' is not"),
    ("ablation_batch_size", {"nli": 0}, "nli: 0"), ("data_dir", "/no/such/folder", "an existing folder"),
    ("max_length", {"nli": 2}, "an integer >= 8"), ("model", " ", "a non-empty name"),
])
def test_values_out_of_range_are_refused_with_what_is_valid(name, value, message):
    with pytest.raises(ValueError, match=f"parameter '{name}' must be .*{re.escape(message)}"):
        check_parameters(**{name: value})


def test_checking_seeds_nothing_and_seeding_is_its_own_call():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_parameters(seed=7)  # no side effect: neither the generators nor torch's kernel choice change
    assert torch.equal(torch.rand(3), expected) and not torch.are_deterministic_algorithms_enabled()
    seed_everything(7)
    first = torch.rand(3)
    seed_everything(7)
    assert torch.equal(first, torch.rand(3)) and not torch.are_deterministic_algorithms_enabled()


def test_deterministic_kernels_only_inside_the_block_on_a_gpu():
    from lib.encoders.runtime import deterministic_kernels

    with deterministic_kernels("cuda"):  # asked for and restored whether or not a GPU is here
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_kernels("cpu"):
        assert not torch.are_deterministic_algorithms_enabled()


def test_each_profile_sets_its_fine_tuning_stage():
    from lib.finetune.config import Finetuning

    for name in profile_names():
        values = load_profile(name)
        finetuning = Finetuning.from_parameters(values)
        assert finetuning.batch_size == values["train_batch_size"] and finetuning.seeds == values["seeds"]
        assert finetuning.n_train == values["n_train"] and finetuning.model == values["model"]
    assert Finetuning.from_parameters({**load_profile("smoke"), "seeds": [7]}).seeds == [7]


def test_command_line_values_are_read_as_the_readme_writes_them():
    """``-p learning_rate=5e-5`` is a number (YAML 1.1 alone would leave it a string and the check
    would refuse it); lists, mappings and strings read as YAML."""
    from lib.book.cli import _parser

    args = _parser().parse_args(["finetune", "--task", "nli", "-p", "learning_rate=5e-5", "-p", "head_learning_rate=3E-3",
                                 "-p", "seeds=[0, 1]", "-p", "n_train={nli: 64}", "-p", "data_dir=/tmp/x", "-p", "train_steps=2"])
    assert args.parameter == [("learning_rate", 5e-5), ("head_learning_rate", 3e-3), ("seeds", [0, 1]),
                              ("n_train", {"nli": 64}), ("data_dir", "/tmp/x"), ("train_steps", 2)]
    check_parameters(profile="cpu", learning_rate=args.parameter[0][1])


def test_the_cpu_learning_rate_is_its_calibrations_best_at_its_sizes():
    """bench/calibrate.py wrote the calibration at the profile's training sizes; a profile whose
    sizes or rate changed since needs a new calibration (chapter 2 shows this table)."""
    from lib.book.parameters import calibration

    cpu, found = load_profile("cpu"), calibration("cpu")
    assert found["n_train"] == {task: cpu["n_train"][task] for task in cpu["tasks"]}
    assert found["steps"] == cpu["train_steps"]
    assert found["best"] == cpu["learning_rate"] and cpu["learning_rate"] in found["grid"]
    assert min(found["grid"]) < found["best"] < max(found["grid"])  # not at an edge: the grid is wide enough
    assert {(row["task"], row["learning_rate"]) for row in found["rows"]} == {
        (task, rate) for task in cpu["tasks"] for rate in found["grid"]}
    assert calibration("smoke") is None and calibration("gpu") is None  # not run on a GPU yet
    with pytest.raises(ValueError, match="unknown profile 'tpu'"):
        calibration("tpu")


