"""The training entry: get-or-train, the store's key, freezing, resuming after kill -9, torchrun."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.artifacts import key
from lib.encoders.runtime import resolve_runtime
from lib.finetune import checkpoints, store
from lib.finetune.config import FinetuneConfig
from lib.finetune.store import get_or_train

SMALL = dict(n_train=96, n_dev=32, n_test=48, batch_size=16, steps=6)  # one pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_train_then_load_from_the_store(mirror, cache, tiny_bert_dir, cpu_runtime, monkeypatch):
    config = FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), seed=0, **SMALL)
    first = get_or_train(config, cpu_runtime, progress=False)
    assert set(first.metrics) == {"accuracy"} and 0 <= first.metrics["accuracy"] <= 1
    assert first.manifest["sizes"] == {"train": 96, "dev": 32, "test": 48}
    assert [h["metric"] for h in first.history if h["split"] == "dev"] == ["accuracy"] * 5  # five points
    assert (first.task, first.seed, first.labels) == ("sentiment", 0, ("negative", "positive"))
    monkeypatch.setattr(store, "train", lambda *a, **k: pytest.fail("a stored model must not be retrained"))
    again = get_or_train(config, cpu_runtime, progress=True)  # a progress bar does not change the result
    assert again.checkpoint == first.checkpoint and again.metrics == first.metrics
    assert store.stored(config, cpu_runtime) == again
    model = again.load()
    assert model.head.out.out_features == 2


def test_the_key_follows_what_changes_the_result(cache, tiny_bert_dir, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    from transformers import BertModel

    from lib.artifacts import VERSIONS
    from lib.data import sources
    runtime = resolve_runtime("cpu").with_precision("fp32")
    model = shutil.copytree(tiny_bert_dir, tmp_path / "tiny")
    base = FinetuneConfig(task="nli", model=str(model))
    first = key("finetune", base.identity(runtime))
    assert key("finetune", FinetuneConfig(task="nli", model=str(model)).identity(runtime)) == first
    assert key("finetune", dataclasses.replace(base, model=str(tiny_bert_dir)).identity(runtime)) == first  # content
    for change in (dict(learning_rate=5e-5), dict(seed=1), dict(freeze_below=1), dict(n_train=10)):
        other = FinetuneConfig(**{**vars(base), **change})
        assert key("finetune", other.identity(runtime)) != first, change
    bf16 = runtime.with_precision("bf16")
    assert key("finetune", base.identity(bf16)) != first
    version = VERSIONS["finetune"]
    monkeypatch.setitem(VERSIONS, "finetune", version + 1)  # the training code changed
    assert key("finetune", base.identity(runtime)) != first
    monkeypatch.setitem(VERSIONS, "finetune", version)
    name, spec = "snli/snli_1.0_test.jsonl.gz", sources.FILES["snli/snli_1.0_test.jsonl.gz"]
    monkeypatch.setitem(sources.FILES, name, dataclasses.replace(spec, sha256="0" * 64))  # another release
    assert key("finetune", base.identity(runtime)) != first
    monkeypatch.setitem(sources.FILES, name, spec)
    assert key("finetune", base.identity(runtime)) == first
    tiny = BertModel.from_pretrained(model)  # the model retrained in place, under the same name
    tiny.pooler.dense.bias.data += 1
    tiny.save_pretrained(model, safe_serialization=True)
    assert key("finetune", base.identity(runtime)) != first


def test_each_hub_split_is_its_own_file_known_by_its_content(tiny_bert_dir, tmp_path, monkeypatch):
    from lib.data import hub

    monkeypatch.setattr(hub, "_resolved", lambda hub_id: "c0ffee")  # no hub here: the commit datasets resolved
    runtime = resolve_runtime("cpu", data_dir=str(tmp_path)).with_precision("fp32")
    train, validation = tmp_path / "train.jsonl", tmp_path / "validation.jsonl"
    train.write_text('{"id": "1"}\n')
    validation.write_text('{"id": "2"}\n')
    files = {"train": str(train), "validation": str(validation)}
    config = FinetuneConfig(task="qa", model=str(tiny_bert_dir))
    first = key("finetune", config.identity(runtime, files))
    validation.write_text('{"id": "3"}\n')  # only the test split changed
    assert key("finetune", config.identity(runtime, files)) != first
    assert config.identity(runtime)["data"] == {"hub": "rajpurkar/squad", "revision": "c0ffee"}
    with pytest.raises(ValueError, match="one file for each split train, validation"):
        config.identity(runtime, {"train": str(train)})  # one file may no longer serve every split
    with pytest.raises(ValueError, match="is not a file"):
        config.identity(runtime, {"train": str(train), "validation": str(tmp_path / "nowhere.jsonl")})


def test_the_number_of_processes_is_in_the_key_and_too_few_batches_are_refused(mirror, cache, tiny_bert_dir):
    from lib.encoders.runtime import Runtime
    from lib.finetune.loop import train

    config = FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), n_train=16, n_dev=8, n_test=8, batch_size=16,
                            steps=1)
    one, two = Runtime("cpu", "fp32", "eager"), Runtime("cpu", "fp32", "eager", rank=0, world=2)
    assert key("finetune", config.identity(one)) != key("finetune", config.identity(two))
    folder = cache / "finetune" / key("finetune", config.identity(two))
    with pytest.raises(ValueError, match=r"16 training examples make fewer batches of 16 than processes \(2\)"):
        train(config, folder, config.identity(two), two, False, 200)  # 1 batch, 2 processes: 0 steps each
    assert not (cache / "finetune").exists() or not any((cache / "finetune").iterdir())


def test_a_tampered_checkpoint_is_refused(mirror, cache, tiny_bert_dir, cpu_runtime):
    config = FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), seed=3, **SMALL)
    folder = get_or_train(config, cpu_runtime, progress=False).checkpoint
    with open(folder / checkpoints.WEIGHTS, "r+b") as handle:
        handle.seek(-8, 2)
        handle.write(b"\x00" * 8)
    with pytest.raises(checkpoints.CheckpointError, match="does not match the SHA-256"):
        get_or_train(config, cpu_runtime, progress=False)


def test_freezing_keeps_the_bottom_layers(mirror, cache, tiny_bert_dir, cpu_runtime):
    from lib.encoders.loading import load_encoder

    config = FinetuneConfig(task="parsing", model=str(tiny_bert_dir), freeze_below=1, n_train=32, n_dev=16,
                            n_test=16, batch_size=16, steps=2)
    run = get_or_train(config, cpu_runtime, progress=False)
    assert set(run.metrics) == {"uas", "las"}
    tuned = dict(run.load().encoder.named_parameters())
    pre = dict(load_encoder(str(tiny_bert_dir)).model.named_parameters())
    for name, weight in pre.items():
        same = torch.equal(weight, tuned[name])
        frozen = name.startswith("embeddings") or name.startswith("encoder.layer.0.")
        assert same == frozen or name.startswith("pooler"), name


@pytest.mark.parametrize("change, message", [
    (dict(task="pos"), "unknown task 'pos'"),
    (dict(freeze_below=3), "freeze_below=3 is outside 0..2"),
    (dict(freeze_below=-1), "outside 0..2"),
    (dict(precision="fp8"), "unknown precision 'fp8'; valid: auto, fp32, bf16, fp16"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(n_train=-1), "n_train must be an integer >= 0"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(learning_rate=0.0), "learning_rate must be a number > 0"),
    (dict(dataset="mnlii"), "unknown dataset 'mnlii'"),
])
def test_bad_configs_fail_before_training(cache, tiny_bert_dir, change, message):
    with pytest.raises(ValueError, match=message):
        get_or_train(FinetuneConfig(**{"task": "nli", "model": str(tiny_bert_dir), **change}), resolve_runtime("cpu"),
                     progress=False)
    assert not (cache / "finetune").exists()


def test_qa_end_to_end_on_a_squad_file(cache, tiny_bert_dir, tmp_path):
    context = "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes."
    rows = [{"id": f"q{i}", "title": "Curie", "context": context, "question": question,
             "answers": {"text": [answer], "answer_start": [context.index(answer)]}}
            for i, (question, answer) in enumerate([("Where was she born?", "Warsaw"), ("When?", "1867"),
                                                     ("How many prizes?", "two")] * 6)]
    path = tmp_path / "squad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    held_out = tmp_path / "squad-validation.jsonl"
    held_out.write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    run = get_or_train(FinetuneConfig(task="qa", model=str(tiny_bert_dir), n_train=0, n_dev=0, n_test=0,
                                      batch_size=8, max_length=64, steps=3), resolve_runtime("cpu"), progress=False,
                       hub_files={"train": str(path), "validation": str(held_out)})
    assert set(run.metrics) == {"f1", "exact_match"} and run.manifest["sizes"] == {"train": 18, "dev": 6, "test": 6}


def _cli(args, cache_dir, **kwargs):
    env = {**os.environ, "BOOK_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen([sys.executable, "-m", "lib", "finetune", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


RESUME_ARGS = ["--task", "sentiment", "--profile", "smoke", "--seed", "0", "--no-progress",
               "--checkpoint-every", "1", "-p", "n_train={nli: 64, sentiment: 640, parsing: 48, qa: 0}",
               "-p", "train_steps=20"]


def _partial_step(root: Path) -> int | None:
    """The step of the checkpoint in progress under ``root``, or None; the trainer swaps it while we look."""
    try:
        found = list(root.rglob("*.partial/progress.json"))
        return json.loads(found[0].read_text())["step"] if found else None
    except (OSError, ValueError):
        return None


def test_kill_9_then_resume_ends_like_an_uninterrupted_run(mirror, tmp_path):
    whole = _cli(RESUME_ARGS, tmp_path / "whole")
    out, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    expected = json.loads(out.strip().splitlines()[-1])

    victim = _cli(RESUME_ARGS, tmp_path / "killed")
    deadline = time.time() + 300
    progress = None
    while time.time() < deadline and victim.poll() is None:
        step = _partial_step(tmp_path / "killed")
        if step is not None and step >= 3:
            progress = step
            break
        time.sleep(0.05)
    assert progress is not None, "the run ended before it could be killed mid-way"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = _partial_step(tmp_path / "killed")
    assert progress <= killed_at < 20  # 640 / 32 steps: killed mid-way

    resumed = _cli(RESUME_ARGS, tmp_path / "killed")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["metrics"] == expected["metrics"]
    manifests = [json.loads((Path(r["checkpoint"]) / "manifest.json").read_text()) for r in (expected, result)]
    assert manifests[0]["weights_sha256"] == manifests[1]["weights_sha256"]
    assert manifests[0]["history"] == manifests[1]["history"]
    # it went on from its checkpoint: a restart from step 0 would give the same weights (every step is seeded)
    assert manifests[1]["resumed_from"] == [killed_at] and manifests[0]["resumed_from"] == []
    assert not list((tmp_path / "killed").rglob("*.partial"))


def test_two_runs_of_one_config_take_turns_and_one_trains(mirror, tmp_path, tiny_bert_dir):
    """Both processes succeed; the second waits on the store key's lock and finds the first one's model."""
    script = f"""
import json, sys
import lib.finetune.store as store
from lib.encoders.runtime import resolve_runtime
from lib.finetune.config import FinetuneConfig
real = store.train
def train(*args, **kwargs):
    with open(sys.argv[1], "a") as log:
        log.write("trained\\n")
    return real(*args, **kwargs)
store.train = train
config = FinetuneConfig(task="sentiment", model={str(tiny_bert_dir)!r}, n_train=320, n_dev=16, n_test=16,
                        batch_size=16, steps=20)
print(json.dumps(store.get_or_train(config, resolve_runtime("cpu"), progress=False).manifest["weights_sha256"]))
"""
    env = {**os.environ, "BOOK_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "trained.log"
    runs = [subprocess.Popen([sys.executable, "-c", script, str(log)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0] == outputs[1][0]  # one model
    assert log.read_text().count("trained") == 1
    assert len(list((tmp_path / "cache").rglob("manifest.json"))) == 1 and not list(tmp_path.rglob("*.partial"))


def test_cli_summary_and_its_errors(mirror, tmp_path):
    args = ["--task", "nli", "--profile", "smoke", "--seed", "1", "--no-progress"]
    run = _cli(args, tmp_path)
    out, err = run.communicate(timeout=600)
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"task", "model", "seed", "checkpoint", "metrics"} and summary["seed"] == 1
    again = _cli(args, tmp_path)
    assert json.loads(again.communicate(timeout=600)[0].strip().splitlines()[-1]) == summary
    bad = _cli(["--task", "nli", "--profile", "smoke", "--freeze-below", "9"], tmp_path)
    out, err = bad.communicate(timeout=600)
    assert bad.returncode == 2 and "freeze_below=9 is outside 0..6" in err and len(err.strip().splitlines()) == 1


def test_two_processes_under_torchrun(mirror, tmp_path, tiny_bert_dir):
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "BOOK_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", "-m", "lib", "finetune",
               "--task", "sentiment", "--profile", "smoke", "--no-progress", "-p", f"model={tiny_bert_dir}",
               "-p", "device=cpu"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # each process's summary line; other libraries may print dict-like lines on stdout too
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"task": ')]
    assert len(summaries) == 2 and summaries[0] == summaries[1], result.stdout  # both report the one model
    manifest = json.loads((Path(summaries[0]["checkpoint"]) / "manifest.json").read_text())
    assert manifest["sizes"]["train"] == 64 and len(list(tmp_path.rglob("manifest.json"))) == 1


def test_shared_models_load_once_and_keep_the_last_few(mirror, cache, tiny_bert_dir, cpu_runtime, monkeypatch):
    """A chapter reads each fine-tuned model once per domain or corpus: the shared copy is loaded
    once, equals a fresh load, and only the last SHARED_MODELS stay in memory."""
    models = [get_or_train(FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), seed=s, **SMALL), cpu_runtime,
                           progress=False) for s in range(store.SHARED_MODELS + 1)]
    monkeypatch.setattr(store, "_SHARED", type(store._SHARED)())
    loads = []
    original = store.FineTuned.load
    monkeypatch.setattr(store.FineTuned, "load",
                        lambda self, device="cpu": loads.append(self.seed) or original(self, device))
    first = models[0].shared()
    assert models[0].shared() is first and loads == [0]
    fresh = original(models[0])
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), fresh.state_dict().values()))
    for m in models[1:]:
        m.shared()
    assert loads == [0, 1, 2, 3] and len(store._SHARED) == store.SHARED_MODELS
    models[0].shared()  # the oldest was let go: loaded again
    assert loads == [0, 1, 2, 3, 0]


def test_fp16_trains_with_a_gradient_scaler_and_is_stored_apart(mirror, cache, tiny_bert_dir, cpu_runtime,
                                                                monkeypatch):
    """What an older GPU (a T4) runs: fp16 autocast and a scaler that steps the optimizer only on
    finite gradients. On this CPU it runs for real; the scaler's scale is seen to be used."""
    scaled = []
    original = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale",
                        lambda self, loss: scaled.append(self.is_enabled()) or original(self, loss))
    config = FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), seed=0, precision="fp16", **SMALL)
    half = get_or_train(config, cpu_runtime, progress=False)
    assert half.config.precision == "fp16" and scaled and all(scaled)
    assert 0 <= half.metrics["accuracy"] <= 1
    losses = [h["value"] for h in half.history if h["metric"] == "loss"]
    assert losses and all(np.isfinite(losses))
    scaled.clear()
    full = get_or_train(FinetuneConfig(**{**vars(config), "precision": "fp32"}), cpu_runtime, progress=False)
    assert full.checkpoint != half.checkpoint and scaled and not any(scaled)  # a pass-through scaler


def test_wide_batches_recompute_their_activations_and_train_the_same_weights(mirror, cache, tiny_bert_dir,
                                                                             cpu_runtime, monkeypatch):
    """On a CPU a batch wider than ``RECOMPUTE_ABOVE`` subwords keeps no layer's activations for the
    backward pass but recomputes them (activation checkpointing, dropout and all): a real parsing
    fine-tune (EWT, a tiny BERT with dropout) ends with bit-identical weights and metrics either way."""
    import torch.utils.checkpoint

    from lib.finetune import loop

    calls = []
    real = torch.utils.checkpoint.checkpoint
    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    config = FinetuneConfig(task="parsing", model=str(tiny_bert_dir), seed=3, learning_rate=1e-3, **SMALL)
    trained = {}
    for above in (10_000, 0):  # no batch is wider than 10,000 subwords; every batch is wider than 0
        monkeypatch.setattr(loop, "RECOMPUTE_ABOVE", above)
        monkeypatch.setenv("BOOK_CACHE_DIR", str(cache / str(above)))
        calls.clear()
        trained[above] = get_or_train(config, cpu_runtime, progress=False)
        assert len(calls) == (0 if above else SMALL["steps"] * 2)  # each step, each of the 2 layers
    assert trained[0].manifest["weights_sha256"] == trained[10_000].manifest["weights_sha256"]
    assert trained[0].metrics == trained[10_000].metrics
