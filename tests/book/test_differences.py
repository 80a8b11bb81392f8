"""The intro's box: the paper beside a profile, every cell of the profile's column from its file."""
import pytest

from lib.book.differences import differences_box, profile_differences
from lib.book.parameters import load_profile, profile_names


@pytest.mark.parametrize("profile", profile_names())
def test_the_box_follows_the_profile(profile):
    values = load_profile(profile)
    table = profile_differences(profile).set_index("aspect")[f"this book ({profile})"]
    assert table["optimizer steps per task"].startswith(f"{values['train_steps']:,} of {values['train_batch_size']}")
    assert table["sentence vector of a classifier head"] == ("[CLS]" if values["model"] == "bert-base" else
                                                             "the mean of the token vectors, as the checkpoint was "
                                                             "trained to pool (its sentence-transformers config)")
    assert table["fine-tuning seeds"] == str(len(values["seeds"]))
    assert table["encoder learning rate"].startswith(f"{values['learning_rate']:g}")
    assert table["freezing boundaries k"].startswith(", ".join(map(str, values["ablation_grid"])))
    html = differences_box(profile)._repr_html_()
    assert "How this book differs from the paper" in html and html.count("<tr>") == len(table) + 1


def test_the_paper_profile_restores_the_papers_encoder_and_tasks():
    table = profile_differences("paper").set_index("aspect")
    assert table.loc["encoder", "this book (paper)"].startswith("bert-base-uncased")
    assert table.loc["fine-tuning tasks", "this book (paper)"] == "MNLI, SQuAD v1.1, EWT dependency parsing"
    assert profile_differences("cpu").set_index("aspect").loc["fine-tuning tasks", "this book (cpu)"].startswith("SNLI")


@pytest.mark.parametrize("profile", profile_names())
def test_a_takeaways_deviations_follow_the_profile(profile):
    from lib.book.differences import deviations

    p = load_profile(profile)
    text = deviations(p["model"], p["tasks"], p["nli_dataset"], p["n_train"], p["train_steps"])
    if profile == "paper":
        assert text == "none in the encoder, the tasks or the training data"
    else:  # the embedded model, SNLI, sentiment, and a sample of each training set
        assert text.startswith("MiniLM-L6") and "SNLI for MNLI" in text and "VADER sentiment" in text
        assert ("on a sample of each training set" in text) == any(p["n_train"][t] for t in p["tasks"])
