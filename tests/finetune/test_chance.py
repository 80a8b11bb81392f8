"""Chance scores on the test sets the book scores, and on records whose chance is known."""
import pytest

from lib.data import Record
from lib.finetune import Finetuning, chance_scores, chance_table


def _nli(label: str) -> Record:
    return Record(id=label, dataset="snli", split="test", domain="snli", text="a b", words=("a", "b"), label=label)


def test_the_majority_class_is_chance_for_a_classifier():
    records = [_nli("entailment")] * 3 + [_nli("neutral")]
    assert chance_scores("nli", records) == {"accuracy": 0.75}


def test_a_random_head_is_chance_for_the_parser():
    # three words, one punctuation mark left out: two scored words in a 3-word sentence -> 1/3 each
    record = Record(id="s", dataset="ewt", split="test", domain="x", text="a b .", words=("a", "b", "."),
                    upos=("X", "X", "PUNCT"), heads=(0, 1, 1), deprels=("root", "dep", "punct"))
    scores = chance_scores("parsing", [record])
    assert scores["uas"] == pytest.approx(1 / 3) and scores["las"] == pytest.approx(1 / 3 * 1 / 2)


def test_chance_on_the_books_test_sets(mirror):
    finetuning = Finetuning(model="minilm", seeds=[0], nli_dataset="snli", n_train={}, n_dev=1, n_test=500, steps=1,
                            batch_size=32, learning_rate=1e-4, head_learning_rate=3e-3, max_length={})
    table = chance_table(finetuning, ["nli", "sentiment", "parsing"], 500, data_dir=str(mirror))
    chance = table.set_index(["task", "metric"]).chance
    assert 1 / 3 <= chance["nli", "accuracy"] < 0.4  # three classes, near balanced
    assert 0.5 <= chance["sentiment", "accuracy"] < 0.7  # two classes
    assert 0 < chance["parsing", "las"] < chance["parsing", "uas"] < 0.2  # sentences of ~20 words
