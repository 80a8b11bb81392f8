"""Profiles and the strict parameter check."""
import pytest
import torch

from lib.book.parameters import check_parameters, load_profile, parameter_types, profile_file, profile_names


def test_every_profile_has_the_schema_keys_and_types():
    types = parameter_types()
    assert profile_names() == ["cpu", "paper", "smoke"]
    for name in profile_names():
        profile = load_profile(name)
        assert profile["profile"] == name
        assert {key: type(value) for key, value in profile.items()} == types, name
        check_parameters(**profile)


def test_unknown_profile_and_parameter_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown profile 'gpu'; valid: cpu, paper, smoke"):
        profile_file("gpu")
    with pytest.raises(ValueError, match="unknown profile"):
        check_parameters(profile="gpu")
    with pytest.raises(ValueError, match="unknown parameter 'n_sentence'; valid: .*n_sentences"):
        check_parameters(n_sentence=3)


@pytest.mark.parametrize("name, value", [("n_sentences", "100"), ("n_sentences", 1.5), ("seed", True),
                                         ("model", 3)])
def test_wrong_types_are_errors(name, value):
    with pytest.raises(ValueError, match=f"parameter '{name}' must be"):
        check_parameters(**{name: value})


def test_same_seed_same_numbers():
    check_parameters(seed=7)
    first = torch.rand(3)
    check_parameters(seed=7)
    assert torch.equal(first, torch.rand(3))


def test_each_profile_sets_its_fine_tuning_stage():
    from lib.book.parameters import profile_finetuning

    for name in profile_names():
        values, finetuning = load_profile(name), profile_finetuning(name)
        assert finetuning.batch_size == values["train_batch_size"] and finetuning.seeds == values["seeds"]
        assert finetuning.n_train == values["n_train"] and finetuning.model == values["model"]
    assert profile_finetuning("smoke", {"seeds": [7]}).seeds == [7]
