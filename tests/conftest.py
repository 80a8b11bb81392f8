"""Shared fixtures: the data mirror, the packaged model, a tiny BERT, the smoke profile and book, the CLI,
the CPU runtime."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib.data import MIRROR_ENV

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Under CI (``.ci/run`` sets ``CI=1``) a skipped test fails the run: nothing may pass by not running."""
    if os.environ.get("CI") and _skipped and session.exitstatus == 0:
        print(f"\nCI: {len(_skipped)} tests were skipped, which CI counts as a failure: {', '.join(_skipped[:5])}")
        session.exitstatus = 1


def _downloaded_mirror() -> str | None:
    """The cache's data folder when ``make book`` downloaded every file there (the mirror's layout)."""
    from lib.artifacts import cache_dir
    from lib.data.sources import FILES

    folder = cache_dir() / "data"
    return str(folder) if all((folder / name).is_file() for name in FILES) else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local data mirror from $BOOK_DATA_DIR (CI sets it), else the files ``make book``
    downloaded into the cache (then exported as $BOOK_DATA_DIR for the session); without either
    the data tests cannot run."""
    path = os.environ.get(MIRROR_ENV)
    if not path and _downloaded_mirror():
        path = os.environ[MIRROR_ENV] = _downloaded_mirror()
    if not path or not Path(path).is_dir():
        message = f"set {MIRROR_ENV} to the local data mirror (the folder holding ud_english_ewt/, snli/, ...)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(path)


@pytest.fixture(scope="session")
def minilm():
    from lib.encoders.loading import load_encoder

    return load_encoder("minilm")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A random-init BERT (hidden 32, 2 layers) saved as safetensors, with MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from lib.encoders.loading import minilm_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smoke_book(mirror, tmp_path_factory) -> Path:
    """The whole book built on the smoke profile (papermill, then jupyter-book); its output root."""
    from lib.book.build import build_book

    root = tmp_path_factory.mktemp("book")
    build_book("smoke", out_root=root, log=lambda message: None)
    return root


@pytest.fixture(scope="session")
def lib_command():
    """``run(args, cache_dir)``: run ``python -m lib ARGS`` with its own cache; assert success; return
    the last line's JSON."""
    import json
    import subprocess
    import sys

    def run(args: list[str], cache_dir: Path) -> dict:
        env = {**os.environ, "BOOK_CACHE_DIR": str(cache_dir)}
        result = subprocess.run([sys.executable, "-m", "lib", *args], env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def smoke():
    """The ``smoke`` profile's parameters."""
    from lib.book.parameters import load_profile

    return load_profile("smoke")


@pytest.fixture(scope="session")
def smoke_finetuning(smoke):
    """The fine-tuning stage of the ``smoke`` profile."""
    from lib.finetune.config import Finetuning

    return Finetuning.from_parameters(smoke)


@pytest.fixture(scope="session")
def cpu_runtime(mirror):
    """The runtime the tests' stages run with: the CPU (its precision resolved), the data mirror."""
    from lib.encoders.runtime import resolve_runtime

    return resolve_runtime("cpu", data_dir=str(mirror))
