"""Task data, model inputs, batching and metrics."""
import numpy as np
import pytest
import torch

from lib.data import load_snli
from lib.finetune.features import collate, encode_parsing, encode_qa, length_grouped_batches
from lib.finetune.metrics import best_span, squad_scores
from lib.finetune.tasks import SENTIMENT_BAND, check_parsing_records, load_task


def test_sentiment_drops_the_neutral_band_and_splits_disjointly(mirror):
    data = load_task("sentiment", 0, 0, 0)
    ids = [{r.id for r in split} for split in (data.train, data.dev, data.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    every = data.train + data.dev + data.test
    assert all(abs(r.label) >= SENTIMENT_BAND for r in every)
    assert 9000 < len(every) < 10605 and abs(len(data.test) - len(every) / 10) <= 1
    assert load_task("sentiment", 100, 0, 0).train == data.train[:100]  # samples are fixed, not seeded


def test_parsing_needs_heads(mirror):
    with pytest.raises(ValueError, match="has no dependency heads"):
        check_parsing_records(load_snli("test")[:3])
    with pytest.raises(ValueError, match="unknown task 'pos'; valid: nli, sentiment, parsing, qa"):
        load_task("pos", 1, 1, 1)


def test_parsing_features_point_at_first_subwords(mirror, minilm):
    data = load_task("parsing", 20, 1, 1)
    features = encode_parsing(data.train, minilm.tokenizer, data.labels, 256)
    for record, feature in zip(data.train, features):
        assert len(feature["word_starts"]) == len(record.words)
        first = [minilm.tokenizer.convert_ids_to_tokens(feature["input_ids"][t]) for t in feature["word_starts"]]
        assert [f.lstrip("#") for f in first][0] != "[CLS]"
        assert feature["heads"] == list(record.heads)


def test_qa_features_map_the_answer_span(minilm):
    from lib.data.hub import squad_records

    context = "The Eiffel Tower, built in 1889, is in Paris."
    rows = [{"id": "q", "title": "t", "context": context, "question": "When was it built?",
             "answers": {"text": ["1889"], "answer_start": [context.index("1889")]}}]
    [feature] = encode_qa(squad_records(rows, "train"), minilm.tokenizer, 64)
    a, b = feature["start"], feature["end"]
    assert context[feature["offsets"][a][0]:feature["offsets"][b][1]] == "1889"
    [truncated] = encode_qa(squad_records(rows, "train"), minilm.tokenizer, 12)
    assert (truncated["start"], truncated["end"]) == (0, 0)


def test_dynamic_padding_and_the_fixed_baseline():
    features = [{"input_ids": [101, 5, 102], "token_type_ids": [0, 0, 0], "label": 1},
                {"input_ids": [101, 5, 6, 7, 102], "token_type_ids": [0, 0, 0, 1, 1], "label": 0}]
    batch = collate(features, pad_id=0)
    assert batch["input_ids"].shape == (2, 5) and batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert collate(features, pad_id=0, pad_to=16)["input_ids"].shape == (2, 16)


def test_length_grouped_batches_cover_every_example_once_and_are_seeded():
    lengths = np.random.default_rng(0).integers(3, 90, size=1000)
    batches = length_grouped_batches(lengths, 32, seed=5)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(np.array_equal(a, b) for a, b in zip(batches, length_grouped_batches(lengths, 32, seed=5)))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.25 * np.ptp(lengths)  # grouped: far less padding than random batches
    plain = length_grouped_batches(lengths, 32, seed=0, shuffle=False)
    assert (np.diff(lengths[np.concatenate(plain)]) >= 0).all()


def test_squad_metrics_and_span_search():
    assert squad_scores("the Eiffel Tower", ["Eiffel Tower"]) == (1.0, 1.0)
    exact, f1 = squad_scores("in Paris France", ["Paris"])
    assert exact == 0.0 and f1 == pytest.approx(0.5)
    start, end = torch.tensor([0.0, 6.0, 0.0, 0.0]), torch.tensor([9.0, 0.0, 0.0, 4.0])
    assert best_span(start, end) == (1, 3)  # end must not precede start
