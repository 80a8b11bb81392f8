"""Independent jobs side by side (opt-in, ``BOOK_WORKERS``), one single-threaded process per core:
the same results as one after another on one thread, in the order asked, and a clear error for a
bad worker count; without it, every job runs here."""
import os

import pytest
import torch

from lib.encoders.runtime import Runtime
from lib.errors import InputError
from lib.finetune.config import FinetuneConfig
from lib.finetune.store import get_or_train, get_or_train_all
from lib.parallel import cores, one_thread, run_jobs, worker_count

CPU = Runtime("cpu", "fp32", "eager")


def _where(value: int) -> tuple[int, int, int]:
    return value, os.getpid(), torch.get_num_threads()


@pytest.mark.skipif(cores() < 2, reason="one core: every job runs in this process")
def test_jobs_run_in_single_threaded_workers_in_order(monkeypatch):
    monkeypatch.setenv("BOOK_WORKERS", "2")
    out = run_jobs(_where, [(i,) for i in range(4)], CPU)
    assert [value for value, _, _ in out] == [0, 1, 2, 3]
    assert {threads for _, _, threads in out} == {1}
    assert os.getpid() not in {pid for _, pid, _ in out}
    assert worker_count(CPU, 1) == 0 and worker_count(CPU, 4) == 2


def test_without_the_setting_jobs_run_here(monkeypatch):
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    threads = torch.get_num_threads()
    assert run_jobs(_where, [(7,), (8,)], CPU) == [(7, os.getpid(), threads), (8, os.getpid(), threads)]


def test_the_worker_cap_is_checked(monkeypatch):
    monkeypatch.setenv("BOOK_WORKERS", "two")
    with pytest.raises(InputError, match="BOOK_WORKERS must be an integer >= 1"):
        worker_count(CPU, 4)
    monkeypatch.setenv("BOOK_WORKERS", "1")
    assert worker_count(CPU, 4) == 0


def test_models_trained_side_by_side_are_the_ones_trained_one_after_another(tiny_bert_dir, cpu_runtime, tmp_path,
                                                                           monkeypatch):
    """Two real fine-tunes (sentiment on VADER, parsing on EWT, a tiny BERT) in two workers give
    bit-identical weights and the same test metrics as the same configs trained here, one thread."""
    configs = [FinetuneConfig(task="sentiment", model=str(tiny_bert_dir), n_train=96, n_dev=32, n_test=48, steps=6,
                              learning_rate=1e-3, seed=3),
               FinetuneConfig(task="parsing", model=str(tiny_bert_dir), n_train=64, n_dev=16, n_test=40, steps=4,
                              learning_rate=1e-3, seed=3, max_length=128)]
    monkeypatch.setenv("BOOK_WORKERS", "2")
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "side-by-side"))
    together = get_or_train_all(configs, cpu_runtime, progress=False)
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "one-by-one"))
    with one_thread():
        alone = [get_or_train(c, cpu_runtime, progress=False) for c in configs]
    assert [m.task for m in together] == ["sentiment", "parsing"]
    for a, b in zip(together, alone):
        assert a.manifest["weights_sha256"] == b.manifest["weights_sha256"]
        assert a.metrics == b.metrics
