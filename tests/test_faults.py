"""Faults and bad input: one line that names the fix, exit status 2, nothing left behind; kills, CI."""
import dataclasses
import gzip
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import lib
from lib.book.cli import main
from lib.data import sources

REPO = Path(lib.__file__).resolve().parents[1]
EWT_TRAIN = "ud_english_ewt/en_ewt-ud-train.conllu.gz"


def _left_behind(cache: Path) -> list[str]:
    """Files in the cache other than lock files (which stay, empty, by design)."""
    if not cache.exists():
        return []
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock")


def _mirror_with(folder: Path, name: str, content: bytes) -> Path:
    """A mirror that holds ``content`` as file ``name`` (and nothing else)."""
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder


def _broken_deflate(mirror: Path) -> bytes:
    """The EWT train file with one byte of its deflate stream changed so that zlib itself fails."""
    import zlib

    packed = bytearray((mirror / EWT_TRAIN).read_bytes())
    for position in range(1000, len(packed), 997):
        trial = bytearray(packed)
        trial[position] ^= 0xFF
        try:
            gzip.decompress(bytes(trial))
        except zlib.error:
            return bytes(trial)
        except (OSError, EOFError):
            continue
    raise AssertionError("no flip broke the deflate stream")


# (id, command, how the environment is set up, the message's pattern); every case exits with 2
CASES = [
    ("unknown task", ["finetune", "--task", "pos"], None, r"invalid choice: 'pos'"),
    ("unknown probe task, before training", ["probe", "--model", "nli/0", "--task", "typo"], None,
     r"invalid choice: 'typo'"),
    ("unknown model", ["probe", "--model", "no-such-model", "--task", "upos"], None, r"unknown model 'no-such-model'"),
    ("unknown profile", ["finetune", "--task", "nli", "--profile", "tpu"], None, r"invalid choice: 'tpu'"),
    ("unknown parameter", ["finetune", "--task", "nli", "-p", "n_sentence=5"], None,
     r"unknown parameter 'n_sentence'; valid: .*n_sentences"),
    ("unknown domain", ["shift", "--task", "nli", "--domains", "snli,mars"], None, r"unknown domain 'mars'; valid"),
    ("negative sentences", ["shift", "--task", "sentiment", "-p", "shift_sentences=-5"], None,
     r"'shift_sentences' must be an integer >= 1, got -5"),
    ("negative probe sentences", ["probe", "--task", "upos", "-p", "probe_train_sentences=-1"], None,
     r"'probe_train_sentences' must be an integer >= 0"),
    ("n_train -1", ["finetune", "--task", "nli", "-p", "n_train={nli: -1}"], None, r"'n_train' must be .*nli: -1"),
    ("batch size 0", ["finetune", "--task", "nli", "-p", "train_batch_size=0"], None,
     r"'train_batch_size' must be an integer >= 1"),
    ("seeds of text", ["ablate", "--task", "nli", "-p", "seeds=[a]"], None, r"'seeds' must be a list .*'a' is not"),
    ("checkpoint every 0", ["finetune", "--task", "nli", "--checkpoint-every", "0"], None,
     r"expected an integer >= 1, got 0"),
    ("unknown device", ["finetune", "--task", "nli", "-p", "device=tpu"], None, r"'device' must be auto, cpu, cuda"),
    ("grid outside the model", ["ablate", "--task", "nli", "-p", "ablation_grid=[0, 9]"], None,
     r"\[9\] are outside 0..6"),
    ("mirror not a folder", ["probe", "--task", "upos"], "no-mirror", r"is not a folder: point it at the folder"),
    ("missing mirror file", ["shift", "--task", "nli", "--domains", "wikipedia,ewt-email"], "empty-mirror",
     r"wikipedia/enwiki_sample.jsonl.gz is not available: the mirror .* has no .*Set BOOK_DATA_DIR"),
    ("checksum mismatch", ["probe", "--task", "upos"], "other-release",
     r"en_ewt-ud-train.conllu.gz \(mirror\) has SHA-256 .* corrupt or from another release"),
    ("broken deflate stream", ["probe", "--task", "upos"], "broken-gzip", r"not a readable gzip file \(error: "),
    ("model folder with only a pickle", ["probe", "--task", "upos", "--model", "{pickle}"], "pickle-model",
     r"holds only pytorch_model.bin \(a pickle.*model.safetensors only"),
    ("unwritable cache folder", ["finetune", "--task", "sentiment"], "cache-under-a-file",
     r"cannot create the cache folder .*set BOOK_CACHE_DIR to a writable folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_matrix(case, mirror, tiny_bert_dir, tmp_path, monkeypatch, capsys):
    """Each bad input: exit status 2 before any heavy work, one line naming the fix, no file left."""
    _, args, setup, pattern = case
    cache = tmp_path / "cache"
    monkeypatch.setenv("BOOK_CACHE_DIR", str(cache))
    monkeypatch.setenv("BOOK_DATA_DIR", str(mirror))
    if setup == "no-mirror":
        monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path / "nowhere"))
    elif setup == "empty-mirror":  # and no network: the file's source is a closed local port
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path / "empty"))
        wiki = "wikipedia/enwiki_sample.jsonl.gz"
        monkeypatch.setitem(sources.FILES, wiki, dataclasses.replace(sources.FILES[wiki], url="http://127.0.0.1:9/closed"))
    elif setup == "other-release":
        content = gzip.compress(b"# sent_id = x\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n")
        monkeypatch.setenv("BOOK_DATA_DIR", str(_mirror_with(tmp_path / "m", EWT_TRAIN, content)))
    elif setup == "broken-gzip":
        monkeypatch.setenv("BOOK_DATA_DIR", str(_mirror_with(tmp_path / "m", EWT_TRAIN,
                                                             _broken_deflate(mirror))))
    elif setup == "pickle-model":
        folder = tmp_path / "pickled"
        shutil.copytree(tiny_bert_dir, folder)
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        args = [str(folder) if a == "{pickle}" else a for a in args]
    elif setup == "cache-under-a-file":
        (tmp_path / "a-file").write_text("not a folder")
        cache = tmp_path / "a-file" / "cache"
        monkeypatch.setenv("BOOK_CACHE_DIR", str(cache))
    if "--profile" not in args:
        args = [*args, "--profile", "smoke"]
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    message = [line for line in err.splitlines() if line.strip()]
    assert message and len(message[-1]) > 20 and ("usage:" in err or len(message) == 1), err
    assert re.search(pattern, message[-1]), message[-1]
    assert _left_behind(cache) == []


def test_an_error_is_one_line_unless_debug_and_a_bug_keeps_its_traceback(tmp_path):
    env = {**os.environ, "BOOK_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "lib", "finetune", "--task", "nli", "--profile", "smoke", "-p", "n_dev=-2"]
    plain = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2 and plain.stderr.strip().splitlines() == [
        "error: parameter 'n_dev' must be an integer >= 0, got -2"]
    debug = subprocess.run([*command[:3], "--debug", *command[3:]], env=env, capture_output=True, text=True,
                           timeout=300)
    assert debug.returncode == 2 and "Traceback" in debug.stderr and debug.stderr.strip().endswith("got -2")
    bug = subprocess.run([sys.executable, "-c", "import sys; from lib.book import cli\n"
                          "cli._finetune = lambda args: 1 / 0\nsys.exit(cli.main(sys.argv[1:]))",
                          "finetune", "--task", "nli", "--profile", "smoke"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "ZeroDivisionError" in bug.stderr


def test_a_full_disk_while_writing_a_checkpoint_keeps_nothing(mirror, tiny_bert_dir, tmp_path):
    """Writes fail as on a full disk (a file-size limit: EFBIG) while the first checkpoint is written."""
    cache = tmp_path / "cache"
    env = {**os.environ, "BOOK_CACHE_DIR": str(cache), "BOOK_DATA_DIR": str(mirror)}

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # the tiny model's weights are ~4 MB

    run = subprocess.run([sys.executable, "-m", "lib", "finetune", "--task", "sentiment", "--profile", "smoke",
                          "--no-progress", "--checkpoint-every", "1", "-p", f"model={tiny_bert_dir}"],
                         env=env, capture_output=True, text=True, timeout=600, preexec_fn=limit)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1].startswith("error: could not write ")
    assert "the disk is full" in run.stderr and "set BOOK_CACHE_DIR to a writable folder with room" in run.stderr
    assert _left_behind(cache) == []


def test_an_empty_sentence_list_is_refused_before_loading_a_model(monkeypatch, tmp_path):
    from lib.encoders import cache as layer_cache

    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(layer_cache, "load_encoder", lambda *a, **k: pytest.fail("no model may load"))
    with pytest.raises(ValueError, match="no sentences to embed"):
        layer_cache.cached_layers("minilm", [])
    assert _left_behind(tmp_path) == []


KILLER = """
import os, signal, sys
from pathlib import Path
kind, real = os.environ["KILL_BEFORE_STORING"], os.replace
def replace(src, dst, *args, **kwargs):
    if Path(dst).parent.name == kind:  # the artifact is written in full, not yet in place: kill -9 now
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from lib.book.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command, kinds", [
    (["probe", "--task", "upos", "--model", "minilm"], ["layers", "probes"]),
    (["shift", "--task", "sentiment", "--domains", "movies,tweets", "--no-progress"], ["layers", "shift-scores"]),
], ids=["probe", "shift"])
def test_a_kill_9_never_leaves_a_file_that_a_later_run_reads(command, kinds, mirror, tmp_path):
    """Killed (SIGKILL) at the worst moment of each long artifact's write, then run again: the result
    is the one computed from scratch, and the killed write left only a temporary name."""
    cache = tmp_path / "cache"
    env = {**os.environ, "BOOK_CACHE_DIR": str(cache), "BOOK_DATA_DIR": str(mirror)}
    args = [*command, "--profile", "smoke"]
    for kind in kinds:
        killed = subprocess.run([sys.executable, "-c", KILLER, *args], env={**env, "KILL_BEFORE_STORING": kind},
                                capture_output=True, text=True, timeout=900)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert [p.name for p in (cache / kind).iterdir() if not p.name.startswith(".")] == []
        assert list((cache / kind).glob(".*.part"))  # the write it was killed in
    after_kills = subprocess.run([sys.executable, "-m", "lib", *args], env=env, capture_output=True, text=True,
                                 timeout=900)
    assert after_kills.returncode == 0, after_kills.stderr[-2000:]
    for kind in kinds:
        shutil.rmtree(cache / kind)  # computed afresh: nothing a killed run wrote can be read
    fresh = subprocess.run([sys.executable, "-m", "lib", *args], env=env, capture_output=True, text=True,
                           timeout=900)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert json.loads(after_kills.stdout.splitlines()[-1]) == json.loads(fresh.stdout.splitlines()[-1])


def test_every_entry_point_shares_one_cache_by_default(tmp_path):
    """From a checkout: the repository's .cache/ (what make and python -m lib both use); an installed
    copy: the user's cache folder; $BOOK_CACHE_DIR wins over both."""
    env = {k: v for k, v in os.environ.items() if k != "BOOK_CACHE_DIR"}
    env["HOME"] = str(tmp_path / "home")
    show = [sys.executable, "-c", "from lib.artifacts import cache_dir; print(cache_dir())"]
    checkout = subprocess.run(show, env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert Path(checkout.stdout.strip()) == REPO / ".cache"
    installed = tmp_path / "site-packages"
    shutil.copytree(REPO / "lib", installed / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    copy = subprocess.run(show, env={**env, "PYTHONPATH": str(installed)}, capture_output=True, text=True,
                          cwd=tmp_path, check=True)
    assert Path(copy.stdout.strip()) == tmp_path / "home" / ".cache" / "what-happens-to-bert"
    chosen = subprocess.run(show, env={**env, "BOOK_CACHE_DIR": str(tmp_path / "mine")}, capture_output=True,
                            text=True, check=True)
    assert Path(chosen.stdout.strip()) == tmp_path / "mine"
    make = subprocess.run(["make", "-s", "-C", str(REPO), "--eval", "print-cache: ; @echo $${BOOK_CACHE_DIR:-unset}",
                           "print-cache"], env=env, capture_output=True, text=True, check=True)
    assert make.stdout.strip() == "unset"  # make leaves the choice to the library's one default


def test_ci_sets_ci_and_the_mirror_and_a_skip_fails_under_ci(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "make").write_text("#!/bin/sh\necho \"CI=$CI BOOK_DATA_DIR=$BOOK_DATA_DIR ARGS=$*\"\n")
    (fake / "make").chmod(0o755)
    ci = subprocess.run(["bash", str(REPO / ".ci" / "run")], env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
                        capture_output=True, text=True, check=True)
    lines = ci.stdout.splitlines()
    assert lines[0].startswith("CI: before the tests: disk free here ") and "memory available" in lines[0]
    seen = dict(item.split("=", 1) for item in lines[-1].split())
    assert seen["CI"] == "1" and seen["ARGS"] == "test"
    assert Path(seen["BOOK_DATA_DIR"]).resolve() == (REPO.parent / "shared" / "data").resolve()
    # a failing test command: its exit status comes out, after the disk and memory left
    (fake / "make").write_text("#!/bin/sh\necho tests failed\nexit 3\n")
    failed = subprocess.run(["bash", str(REPO / ".ci" / "run")],
                            env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}, capture_output=True, text=True)
    assert failed.returncode == 3
    assert failed.stdout.splitlines()[-1].startswith("CI: after the failed tests (exit status 3): disk free here ")
    (tmp_path / "test_skips.py").write_text("import pytest\n\ndef test_skipped():\n    pytest.skip('no mirror')\n")
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
           str(tmp_path / "test_skips.py")]
    quiet = {k: v for k, v in os.environ.items() if k != "CI"}
    assert subprocess.run(run, env=quiet, cwd=REPO, capture_output=True, text=True).returncode == 0
    under_ci = subprocess.run(run, env={**quiet, "CI": "1"}, cwd=REPO, capture_output=True, text=True)
    assert under_ci.returncode == 1 and "CI counts as a failure" in under_ci.stdout
