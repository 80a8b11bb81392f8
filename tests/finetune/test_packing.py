"""Packing (lib.finetune.packing): rows of a token budget, the padded batch's numbers, the training path."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from lib.data import Record
from lib.encoders.families import family_of
from lib.encoders.loading import load_encoder
from lib.encoders.runtime import resolve_packing, resolve_runtime
from lib.errors import InputError
from lib.finetune.config import FinetuneConfig
from lib.finetune.features import collate, encode_task
from lib.finetune.heads import TaskModel, make_head
from lib.finetune.packing import layout_tokens, pack, pack_rows
from lib.finetune.store import get_or_train
from lib.finetune.tasks import load_task


@pytest.mark.parametrize("budget", [8, 64, 128])
def test_rows_hold_every_example_once_within_the_budget(budget):
    lengths = np.random.default_rng(budget).integers(1, 130, size=200).tolist()
    rows = pack_rows(lengths, budget)
    assert sorted(i for row in rows for i in row) == list(range(200))
    for row in rows:
        assert len(row) == 1 or sum(lengths[i] for i in row) <= budget  # a longer example has a row of its own
    fitting = [n for n in lengths if n <= budget]
    # first fit decreasing: no two rows could be merged, so at most one row is half empty or less
    halves = [row for row in rows if sum(lengths[i] for i in row) <= budget / 2]
    assert len(halves) <= 1 and len(rows) >= -(-sum(fitting) // budget)


def test_a_bad_budget_and_a_stored_prefix_are_refused():
    with pytest.raises(InputError, match="at least one token"):
        pack_rows([3, 4], 0)
    batch = collate([{"input_ids": [2, 5, 3], "label": 0, "states": torch.zeros(3, 4), "states_layer": 1}], 0)
    with pytest.raises(InputError, match="frozen prefix"):
        pack(batch, 16, 0)


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm")


def _features(task, tokenizer, n=24, max_length=128):
    data = load_task(task, n, 0, 1)
    return encode_task(data.train, tokenizer, data, max_length), data


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_packed_states_are_the_padded_ones_on_real_pairs(mirror, minilm, attention):
    """MiniLM on 24 SNLI pairs in random order: each example's last hidden states, packed into rows of
    128 tokens, equal those of the padded batch; the rows hold fewer tokens than the padded batch."""
    features, _ = _features("nli", minilm.tokenizer)
    encoder = load_encoder("minilm", attention=attention).model
    batch = collate(features, minilm.tokenizer.pad_token_id)
    packed = pack(batch, 128, minilm.tokenizer.pad_token_id)
    assert (packed["packed_token_type_ids"] == 1).sum() == (batch["token_type_ids"] * batch["attention_mask"]).sum()
    with torch.no_grad():
        padded = encoder(**family_of(encoder).inputs(batch)).last_hidden_state
        unpacked = family_of(encoder).run_packed(packed)
    valid = batch["attention_mask"].bool()
    assert unpacked.shape == padded.shape
    torch.testing.assert_close(unpacked[valid], padded[valid], atol=2e-5, rtol=1e-4)
    assert int(batch["attention_mask"].sum()) <= layout_tokens(packed) < layout_tokens(batch)


def _qa_features(tokenizer):
    context = "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes for her work on radioactivity."
    questions = [("Where was she born?", "Warsaw"), ("When was she born?", "1867"), ("How many prizes?", "two"),
                 ("What did she work on?", "radioactivity")]
    records = [Record(id=f"q{i}", dataset="squad", split="train", domain="Curie", text=context, words=(),
                      pair=q, answers=((a, context.index(a)),)) for i, (q, a) in enumerate(questions)]
    return encode_task(records, tokenizer, type("Data", (), {"task": "qa"})(), 64)


@pytest.mark.parametrize("task", ["nli", "sentiment", "parsing", "qa"])
def test_a_packed_training_step_has_the_padded_loss_and_gradients(mirror, minilm, task):
    """Every head (the [CLS] classifier, the biaffine parser, the span head) gets the padded batch's
    loss and gradients from a packed batch (dropout off, so that the two draw nothing)."""
    if task == "qa":
        features, n_labels = _qa_features(minilm.tokenizer), 2
    else:
        features, data = _features(task, minilm.tokenizer, n=16, max_length=256 if task == "parsing" else 128)
        n_labels = len(data.labels)
    pad = minilm.tokenizer.pad_token_id
    grads = []
    for packed in (False, True):
        torch.manual_seed(0)
        model = TaskModel(load_encoder("minilm").model, make_head(task, 384, n_labels)).eval()
        batch = collate(features, pad)
        loss, predictions = model(pack(batch, 64, pad) if packed else batch)
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
                      predictions))
    (loss_a, grad_a, pred_a), (loss_b, grad_b, pred_b) = grads
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=1e-5)
    assert grad_a.keys() == grad_b.keys() and len(grad_a) > 100
    for name in grad_a:
        torch.testing.assert_close(grad_b[name], grad_a[name], atol=1e-5, rtol=2e-3, msg=name)
    if task in ("nli", "sentiment"):
        assert torch.equal(pred_a["label"], pred_b["label"])


def test_packing_is_chosen_by_device_and_setting(monkeypatch, tiny_bert_dir):
    assert resolve_packing("cuda", "auto") and not resolve_packing("cpu", "auto")
    assert resolve_packing("cpu", "on") and not resolve_packing("cuda:0", "off")
    monkeypatch.setenv("BOOK_PACKING", "on")
    assert resolve_runtime("cpu").with_precision("fp32").packing
    monkeypatch.setenv("BOOK_PACKING", "sometimes-packed")
    with pytest.raises(InputError, match="valid: auto, on, off"):
        resolve_runtime("cpu")
    monkeypatch.delenv("BOOK_PACKING")
    padded = resolve_runtime("cpu").with_precision("fp32")
    config = FinetuneConfig(task="nli", model=str(tiny_bert_dir))
    assert not padded.packing and "packing" not in config.describe(padded)  # a CPU key is what it was
    runtime = replace(padded, packing=True)
    assert config.describe(runtime)["packing"] is True and config.identity(runtime) != config.identity(padded)
    frozen = FinetuneConfig(task="nli", model=str(tiny_bert_dir), freeze_below=1)
    assert not frozen.packs(runtime) and "packing" not in frozen.describe(runtime)  # stored states are padded


def test_a_packed_finetune_is_stored_apart_and_learns(mirror, tmp_path, monkeypatch, tiny_bert_dir):
    """BOOK_PACKING=on trains a CPU fine-tune packed: its manifest says so, the store keeps it apart
    from the padded one, and the two reach the same training loss within noise."""
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    config = FinetuneConfig(task="parsing", model=str(tiny_bert_dir), n_train=512, n_dev=32, n_test=64,
                            batch_size=16, learning_rate=1e-3, max_length=128, steps=64)
    padded = get_or_train(config, resolve_runtime("cpu", data_dir=str(mirror)), progress=False)
    monkeypatch.setenv("BOOK_PACKING", "on")  # read when the runtime is resolved
    packed = get_or_train(config, resolve_runtime("cpu", data_dir=str(mirror)), progress=False)
    assert packed.checkpoint != padded.checkpoint
    assert packed.manifest["config"]["packing"] is True and "packing" not in padded.manifest["config"]
    assert packed.load().head.rel.out_features == len(packed.labels)

    def train_loss(run):
        return np.array([h["value"] for h in run.history if h["split"] == "train"])

    curve, reference = train_loss(packed), train_loss(padded)
    assert curve[-3:].mean() < 0.75 * curve[0]  # it learns
    assert np.abs(curve - reference).max() < 0.05 * reference[0]  # as the padded run does, up to dropout's draws
    assert abs(packed.metrics["uas"] - padded.metrics["uas"]) < 0.1
