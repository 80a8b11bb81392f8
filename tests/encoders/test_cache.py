"""The layer cache and model identity: keyed by content, reused when nothing changed."""
import json
import os
import shutil
import subprocess
import sys

from dataclasses import replace

import numpy as np
import pytest
import torch

from lib.artifacts import VERSIONS
from lib.data import load_ewt
from lib.encoders import cache
from lib.encoders.cache import cached_layers
from lib.encoders.loading import model_identity


@pytest.fixture
def records(mirror):
    return load_ewt("dev")[:6]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "layers"


@pytest.fixture
def tiny_copy(tiny_bert_dir, tmp_path):
    """A model folder of our own, to retrain in place."""
    return shutil.copytree(tiny_bert_dir, tmp_path / "tiny")


def _retrain_in_place(folder):
    from transformers import BertModel

    model = BertModel.from_pretrained(folder)
    with torch.no_grad():
        model.encoder.layer[0].output.dense.weight.mul_(1.5)
    model.save_pretrained(folder, safe_serialization=True)


def test_nothing_changed_means_reused(records, store, tiny_copy, monkeypatch):
    first = cached_layers(str(tiny_copy), records, progress=False)
    assert len(list(store.iterdir())) == 1
    monkeypatch.setattr(cache, "extract_layers", lambda *a, **k: pytest.fail("a stored result must be reused"))
    again = cached_layers(str(tiny_copy), records, progress=False)
    assert np.array_equal(first.vectors, again.vectors) and len(list(store.iterdir())) == 1


def test_each_ingredient_makes_a_new_key(records, store, tiny_copy, monkeypatch):
    base = cached_layers(str(tiny_copy), records, progress=False)
    cached_layers(str(tiny_copy), records, pooling="mean", progress=False)  # a setting
    changed = list(records)
    changed[2] = replace(changed[2], words=changed[2].words[:-1])  # a reader or split_words changed
    cached_layers(str(tiny_copy), changed, progress=False)
    version = VERSIONS["layers"]
    monkeypatch.setitem(VERSIONS, "layers", version + 1)  # the extraction code changed
    cached_layers(str(tiny_copy), records, progress=False)
    monkeypatch.setitem(VERSIONS, "layers", version)
    _retrain_in_place(tiny_copy)  # the model's content, under the same name
    retrained = cached_layers(str(tiny_copy), records, progress=False)
    assert len(list(store.iterdir())) == 5
    assert not np.allclose(base.vectors[1:], retrained.vectors[1:])  # the layers from the changed one up differ
    assert np.array_equal(base.vectors[0], retrained.vectors[0])  # the embeddings did not change


def test_model_identity_is_content(tiny_bert_dir, tiny_copy):
    assert model_identity(str(tiny_copy)) == model_identity(str(tiny_bert_dir))  # same files, other path
    assert model_identity("minilm") != model_identity(str(tiny_bert_dir))
    assert model_identity("random-init", seed=1) != model_identity("random-init", seed=0)
    assert model_identity("minilm", seed=1) == model_identity("minilm", seed=0)  # seed draws random-init only
    tokenizer = json.loads((tiny_copy / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"]["newword"] = len(tokenizer["model"]["vocab"])
    (tiny_copy / "tokenizer.json").write_text(json.dumps(tokenizer))
    assert model_identity(str(tiny_copy)) != model_identity(str(tiny_bert_dir))  # the tokenizer is content too
    (tiny_copy / "model.safetensors").unlink()
    with pytest.raises(OSError, match="holds no weights: the book loads model.safetensors only"):
        model_identity(str(tiny_copy))


def test_a_hub_model_is_known_by_its_resolved_commit(tiny_bert_dir, tmp_path):
    """A hub id resolves through the hub cache (offline here) to the commit that its refs point at."""
    hub = tmp_path / "hub"
    for commit in ("a" * 40, "b" * 40):
        snapshot = hub / "models--org--tiny" / "snapshots" / commit
        shutil.copytree(tiny_bert_dir, snapshot)
    refs = hub / "models--org--tiny" / "refs"
    refs.mkdir()
    code = "import json; from lib.encoders.loading import model_identity; print(json.dumps(model_identity('org/tiny')))"
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    seen = []
    for commit in ("a" * 40, "b" * 40):
        (refs / "main").write_text(commit)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        seen.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert seen == [{"hub": "org/tiny", "commit": "a" * 40}, {"hub": "org/tiny", "commit": "b" * 40}]
