"""A fine-tune runs for its step budget, with its dev curve; heads pool as the checkpoint says;
the parser's fast bilinear layer is torch's; the stored test counts add up to the test score."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from lib.encoders.loading import sentence_pooling
from lib.errors import InputError
from lib.finetune.config import FinetuneConfig
from lib.finetune.heads import Bilinear, ClassifierHead
from lib.finetune.loop import dev_steps
from lib.finetune.store import get_or_train


def test_the_fast_bilinear_layer_is_torchs(tmp_path):
    """Same parameters, same outputs and same gradients as nn.Bilinear, on random inputs."""
    torch.manual_seed(0)
    reference, fast = nn.Bilinear(16, 12, 7), Bilinear(16, 12, 7)
    fast.load_state_dict(reference.state_dict())
    x, y = torch.randn(3, 5, 16), torch.randn(3, 5, 12)
    out, expected = fast(x, y), reference(x, y)
    assert out.shape == expected.shape == (3, 5, 7)
    assert torch.allclose(out, expected, atol=1e-5)
    out.square().sum().backward()
    expected.square().sum().backward()
    assert torch.allclose(fast.weight.grad, reference.weight.grad, atol=1e-4)
    assert torch.allclose(fast.bias.grad, reference.bias.grad, atol=1e-4)


def test_heads_pool_as_the_checkpoint_was_trained(tmp_path):
    """The packaged MiniLM is a mean-pooling sentence embedder (its 1_Pooling config); a folder
    without a sentence-transformers config, or one that pools [CLS], gets [CLS]."""
    assert sentence_pooling("minilm") == "mean" and sentence_pooling("random-init:minilm") == "mean"
    assert sentence_pooling("random-init:bert-base") == "cls"
    (tmp_path / "1_Pooling").mkdir()
    assert sentence_pooling(str(tmp_path)) == "cls"  # no modules.json
    (tmp_path / "modules.json").write_text(json.dumps([{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert sentence_pooling(str(tmp_path)) == "cls"
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert sentence_pooling(str(tmp_path)) == "mean"


def test_mean_pooling_ignores_padding():
    head = ClassifierHead(4, 2, pooling="mean").eval()
    hidden = torch.randn(1, 3, 4)
    padded = torch.cat([hidden, torch.randn(1, 2, 4) * 100], dim=1)  # two pad positions of large values
    short = head.pool(hidden, {"attention_mask": torch.ones(1, 3, dtype=torch.long)})
    long = head.pool(padded, {"attention_mask": torch.tensor([[1, 1, 1, 0, 0]])})
    assert torch.allclose(short, long) and torch.allclose(short, hidden.mean(1))
    assert torch.equal(ClassifierHead(4, 2).pool(padded, {}), padded[:, 0])  # cls: the first token
    with pytest.raises(InputError, match="unknown sentence pooling 'max'"):
        ClassifierHead(4, 2, pooling="max")


def test_dev_points_are_spread_over_the_budget():
    assert sorted(dev_steps(200)) == [40, 80, 120, 160, 200] and sorted(dev_steps(7)) == [1, 3, 4, 6, 7]


def test_a_finetune_runs_its_step_budget_across_epochs(mirror, tmp_path, monkeypatch, tiny_bert_dir, cpu_runtime):
    """96 examples in batches of 16 are 6 batches a pass: a budget of 15 steps is two passes and
    half of a third; the dev score is taken at the five points, the manifest's per-example test
    counts sum to its test score, and the classifier pools as the checkpoint says ([CLS] here)."""
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    config = FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), n_train=96, n_dev=32, n_test=48,
                            batch_size=16, steps=15, learning_rate=1e-3)
    run = get_or_train(config, cpu_runtime, progress=False)
    train = [h for h in run.history if h["split"] == "train"]
    dev = [h for h in run.history if h["split"] == "dev"]
    assert [h["step"] for h in train] == [10, 15] and [h["epoch"] for h in train] == [2, 3]
    assert [h["step"] for h in dev] == sorted(dev_steps(15)) == [3, 6, 9, 12, 15]
    assert run.manifest["config"]["steps"] == 15 and run.manifest["config"]["pooling"] == "cls"
    items = run.manifest["test_items"]
    assert len(items["correct"]) == len(items["total"]) == 48 and set(items["correct"]) <= {0.0, 1.0}
    assert np.sum(items["correct"]) / np.sum(items["total"]) == pytest.approx(run.metrics["accuracy"])


def test_parser_counts_add_up_to_uas_and_las(mirror, tmp_path, monkeypatch, tiny_bert_dir, cpu_runtime):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    config = FinetuneConfig(task="parsing", model=str(tiny_bert_dir), n_train=64, n_dev=16, n_test=40,
                            batch_size=16, steps=4, learning_rate=1e-3, max_length=128)
    run = get_or_train(config, cpu_runtime, progress=False)
    items = run.manifest["test_items"]
    assert len(items["total"]) == 40 and all(las <= uas <= total for las, uas, total in
                                             zip(items["las"], items["uas"], items["total"]))
    for metric in ("uas", "las"):
        assert np.sum(items[metric]) / np.sum(items["total"]) == pytest.approx(run.metrics[metric])
