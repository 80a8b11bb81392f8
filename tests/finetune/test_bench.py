"""bench/finetune.py on a CPU: every variant runs, the profile is written, the FLOP count is torch's."""
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "bench" / "finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_useful_flops_are_what_torch_counts(mirror):
    """Forward and backward of MiniLM with its head on unpadded SNLI pairs, one at a time: the bench's
    count (6 x dense parameters x tokens + attention) is torch's FlopCounterMode count of the
    matrix products, to within the biases and norms the first term counts as dense."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoTokenizer

    from lib.data import NLI_LABELS, load_snli
    from lib.finetune.features import collate, encode_classification

    bench = _bench()
    model = bench.make_model("minilm", "eager", "cpu")
    tokenizer = AutoTokenizer.from_pretrained(bench.minilm_path())
    features = encode_classification(load_snli("test")[:4], tokenizer, "nli", NLI_LABELS, 128)
    counted = 0
    for feature in features:
        with FlopCounterMode(display=False) as counter:
            loss, _ = model(collate([feature], 0))
            loss.backward()
        counted += counter.get_total_flops()
    expected = bench.useful_flops(model, [len(f["input_ids"]) for f in features])
    print(f"bench {expected:.4g}, torch {counted:.4g}")
    assert expected == pytest.approx(counted, rel=0.02)
    assert len({len(f["input_ids"]) for f in features}) > 1


def test_every_variant_runs_and_the_profile_is_written(mirror, tmp_path):
    trace = tmp_path / "trace"
    env = {**os.environ, "BOOK_DATA_DIR": str(mirror)}
    done = subprocess.run([sys.executable, "bench/finetune.py", "--examples", "256", "--batch-size", "16",
                           "--variants", "plain,ours,packed,trainer,compiled", "--warmup", "2", "--trace", str(trace),
                           "--trace-steps", "2", "--peak-tflops", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    variants = result["variants"]
    assert list(variants) == ["plain", "ours", "packed", "trainer", "compiled"]
    for name, row in variants.items():
        assert row["samples_per_s"] > 0 and 0 < row["mfu"] == row["tflops_per_s"] and row["steps_timed"] >= 1, name
    # plain pads every pair to 128 tokens; ours pads within length-grouped batches; packing fills rows
    assert variants["plain"]["padding"] > 0.5 > variants["packed"]["padding"] and variants["ours"]["padding"] < 0.2
    assert result["speedup_vs_plain"]["ours"] == pytest.approx(
        variants["ours"]["samples_per_s"] / variants["plain"]["samples_per_s"], abs=0.01)
    profile = variants["packed"]["profile"]
    assert profile["clock"] == "cpu" and len(profile["top_ops"]) == 10
    assert any(op["op"] in ("aten::mm", "aten::addmm", "aten::bmm") for op in profile["top_ops"][:3])
    assert "traceEvents" in json.loads(gzip.decompress((trace / "trace.json.gz").read_bytes()))
    assert "Self CPU" in (trace / "ops.txt").read_text()


def test_bench_refuses_unknown_variants_and_too_few_batches(mirror):
    env = {**os.environ, "BOOK_DATA_DIR": str(mirror)}
    done = subprocess.run([sys.executable, "bench/finetune.py", "--variants", "ours,warp-speed"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "unknown variants ['warp-speed']" in done.stderr
    done = subprocess.run([sys.executable, "bench/finetune.py", "--examples", "160", "--trace", "unused",
                           "--variants", "plain,packed"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "the packed variant needs 9" in done.stderr
    assert not (ROOT / "unused").exists()
