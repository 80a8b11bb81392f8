"""Batched extraction against a slow reference: one sentence at a time, no padding."""
import numpy as np
import pytest
import torch

from lib.data import load_ewt
from lib.encoders.extraction import extract_layers


def slow_reference(encoder, words, pooling):
    """Tokenise word by word, run the sentence alone, pool each word's subwords by hand."""
    tok = encoder.tokenizer
    ids, spans = [tok.cls_token_id], []
    for word in words:
        pieces = tok(word, add_special_tokens=False)["input_ids"] or [tok.unk_token_id]
        spans.append((len(ids), len(ids) + len(pieces)))
        ids.extend(pieces)
    ids.append(tok.sep_token_id)
    with torch.no_grad():
        states = encoder.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    hidden = torch.stack(states)[:, 0].numpy()  # (layers, tokens, hidden)
    if pooling == "first":
        return np.stack([hidden[:, a] for a, _ in spans], axis=1)
    return np.stack([hidden[:, a:b].mean(axis=1) for a, b in spans], axis=1)


@pytest.fixture(scope="module")
def sentences(mirror):
    dev = load_ewt("dev")
    # short and long sentences together, so batches need real padding
    return [r.words for r in dev[:24]] + [max(dev, key=lambda r: len(r.words)).words]


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_batched_equals_one_sentence_at_a_time(minilm, sentences, pooling):
    reps = extract_layers(minilm, sentences, pooling=pooling, batch_size=8, progress=False)
    expected = np.concatenate([slow_reference(minilm, words, pooling) for words in sentences], axis=1)
    assert reps.vectors.shape == (7, sum(map(len, sentences)), 384) == expected.shape
    np.testing.assert_allclose(reps.vectors, expected, rtol=1e-5, atol=1e-5)
    assert reps.sentence.tolist() == [i for i, s in enumerate(sentences) for _ in s]
    assert reps.position.tolist() == [j for s in sentences for j in range(len(s))]


def test_layer_subset_and_tiny_model(tiny_bert_dir):
    from lib.encoders.loading import load_encoder

    tiny = load_encoder(str(tiny_bert_dir))
    reps = extract_layers(tiny, [["a", "tiny", "test"], ["ok"]], layers=[0, 2], progress=False)
    assert reps.vectors.shape == (2, 4, 32) and reps.layers == (0, 2)
    with pytest.raises(ValueError, match="layers \\[3\\] do not exist.*0 \\(embeddings\\)..2"):
        extract_layers(tiny, [["a"]], layers=[3], progress=False)


def test_word_without_subwords_gets_unk(minilm):
    reps = extract_layers(minilm, [["a", "\u200b", "b"]], progress=False)
    assert reps.vectors.shape[1] == 3 and np.isfinite(reps.vectors).all()


@pytest.mark.parametrize("sentences, message", [([], "no sentences"), ([["ok"], []], "sentence 1 must be"),
                                                (["not a list"], "sentence 0 must be")])
def test_bad_input(minilm, sentences, message):
    with pytest.raises(ValueError, match=message):
        extract_layers(minilm, sentences, progress=False)


def test_unknown_pooling(minilm):
    with pytest.raises(ValueError, match="valid: first, mean"):
        extract_layers(minilm, [["x"]], pooling="max", progress=False)


def test_bf16_extraction_stays_close_to_fp32_and_is_keyed_apart(minilm, sentences, tmp_path, monkeypatch):
    """bf16 autocast (what ``auto`` picks on a CPU with native bf16) moves each word's vector by
    about 1 % of its length at most, and the cache keeps the two precisions apart."""
    from lib.encoders import cache
    from lib.encoders.extraction import extraction_precision

    full = extract_layers(minilm, sentences, progress=False, precision="fp32")
    half = extract_layers(minilm, sentences, progress=False, precision="bf16")
    assert half.vectors.dtype == np.float32 and half.vectors.shape == full.vectors.shape
    relative = np.linalg.norm(half.vectors - full.vectors, axis=-1) / np.linalg.norm(full.vectors, axis=-1)
    assert 0 < relative.mean() < 0.02 and relative.max() < 0.1
    assert extraction_precision("cpu", "fp32") == "fp32" and extraction_precision("cpu", "auto") in ("fp32", "bf16")
    with pytest.raises(ValueError, match="unknown precision 'fp8'; valid: auto, fp32, bf16, fp16"):
        extraction_precision("cpu", "fp8")
    records = load_ewt("dev")[:3]
    identity = cache.layers_identity({"model": "x"}, records, "first", 32, "cpu")
    assert identity["precision"] == extraction_precision("cpu")
    monkeypatch.setattr(cache, "extraction_precision", lambda device_type: "fp32" if identity["precision"] == "bf16" else "bf16")
    assert cache.layers_identity({"model": "x"}, records, "first", 32, "cpu") != identity
