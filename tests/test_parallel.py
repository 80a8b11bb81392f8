"""A chapter's independent jobs: by default on a CPU each in a fresh process of its own, on this
process's threads and environment, its result or its exception brought back (``BOOK_ISOLATE=0``: here);
side by side (opt-in, ``BOOK_WORKERS``), one single-threaded process per core. The same results as
one after another here, in the order asked, and a clear error for a bad setting."""
import os

import pytest
import torch

from lib.encoders.runtime import Runtime
from lib.errors import InputError
from lib.finetune.config import FinetuneConfig
from lib.finetune.store import get_or_train, get_or_train_all
from lib.parallel import cores, isolates, one_thread, run_jobs, runs_elsewhere, worker_count

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


def _setting(name: str) -> tuple[str | None, int]:
    return os.environ.get(name), os.getpid()


def _fail(kind: str):
    if kind == "error":
        raise InputError("a job's own error")
    os._exit(3)  # the process dies without a word


def test_by_default_each_job_runs_in_a_fresh_process_on_this_process_threads(monkeypatch):
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    monkeypatch.delenv("BOOK_ISOLATE", raising=False)
    assert isolates(CPU) and runs_elsewhere(CPU, 1) and not runs_elsewhere(CPU, 0)
    assert not isolates(Runtime("cuda", "bf16", "sdpa")) and not isolates(Runtime("cpu", "fp32", "eager", world=2))
    threads = torch.get_num_threads()
    out = run_jobs(_where, [(7,), (8,)], CPU)
    assert [value for value, _, _ in out] == [7, 8]
    pids = {pid for _, pid, _ in out}
    assert len(pids) == 2 and os.getpid() not in pids  # one process per job, none of them this one
    assert {t for _, _, t in out} == {threads}
    # the environment of the moment, not the one the forkserver started with
    monkeypatch.setenv("BOOK_PARALLEL_TEST", "now")
    assert run_jobs(_setting, [("BOOK_PARALLEL_TEST",)], CPU)[0][0] == "now"


def test_a_job_s_failure_comes_back_clearly(monkeypatch):
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    monkeypatch.delenv("BOOK_ISOLATE", raising=False)
    with pytest.raises(InputError, match="a job's own error") as raised:
        run_jobs(_fail, [("error",)], CPU)
    assert "in the job's own process" in "".join(getattr(raised.value, "__notes__", []))
    with pytest.raises(RuntimeError, match=r"_fail ended without a result \(exit status 3; .*BOOK_ISOLATE=0"):
        run_jobs(_fail, [("exit",)], CPU)


def test_the_isolation_setting_is_checked(monkeypatch):
    monkeypatch.setenv("BOOK_ISOLATE", "yes")
    with pytest.raises(InputError, match="BOOK_ISOLATE must be 0 .* or 1"):
        isolates(CPU)


def test_without_the_settings_jobs_run_here(monkeypatch):
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    monkeypatch.setenv("BOOK_ISOLATE", "0")
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


def test_a_model_trained_in_its_own_process_is_the_one_trained_here(tiny_bert_dir, cpu_runtime, tmp_path,
                                                                    monkeypatch):
    """A real fine-tune (parsing on EWT, a tiny BERT) in a fresh process (the default) gives
    bit-identical weights and the same test metrics as the same config trained in this process."""
    config = FinetuneConfig(task="parsing", model=str(tiny_bert_dir), n_train=64, n_dev=16, n_test=40, steps=4,
                            learning_rate=1e-3, seed=5, max_length=128)
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    monkeypatch.delenv("BOOK_ISOLATE", raising=False)
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "fresh"))
    there, = get_or_train_all([config], cpu_runtime, progress=False)
    monkeypatch.setenv("BOOK_ISOLATE", "0")
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "here"))
    here, = get_or_train_all([config], cpu_runtime, progress=False)
    assert str(tmp_path / "fresh") in str(there.checkpoint) and str(tmp_path / "here") in str(here.checkpoint)
    assert there.manifest["weights_sha256"] == here.manifest["weights_sha256"]
    assert there.metrics == here.metrics
