"""Every command the README documents runs, as written there, on the profile it names, with that
profile's defaults (``device: auto`` included): only the sizes are shrunk, by ``-p`` overrides taken
from the ``smoke`` profile. A command that crashes on a default (as ``similarity`` and ``shift`` once
did on ``device: auto``) fails here."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lib.book.build import ROOT
from lib.book.cli import main
from lib.book.parameters import load_profile

# The parameters that only size the work (never its kind): shrunk to the smoke profile's values.
SIZES = ("seeds", "n_train", "n_dev", "n_test", "train_steps", "n_sentences", "n_pairs", "probe_train_sentences",
         "probe_test_sentences", "probe_epochs", "structural_epochs", "probe_rank", "similarity_tokens",
         "ablation_seeds", "ablation_n_train", "ablation_n_eval", "shift_domains", "shift_sentences", "shift_tokens",
         "shift_eval")
PREFIXES = (".venv/bin/python -m lib ", ".venv/bin/torchrun ")


def readme_commands() -> list[str]:
    """The ``python -m lib`` and ``torchrun`` lines of the README's code blocks, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(PREFIXES)]


def shrunk(args: list[str]) -> list[str]:
    """``args`` with ``-p name=value`` for each size the command's profile sets (``run``: only the
    chapter's own parameters, and none the README already sets)."""
    profile = args[args.index("--profile") + 1] if "--profile" in args else "cpu"
    if args[0] in ("build", "plan"):
        return args
    smoke, given = load_profile("smoke"), {a.split("=")[0] for a in args}
    names = [n for n in SIZES if n in load_profile(profile) and n not in given]
    if args[0] == "run":
        import papermill

        declared = papermill.inspect_notebook(str(ROOT / args[1]))
        names = [n for n in names if n in declared]
    return args + [f"-p{n}={json.dumps(smoke[n])}" for n in names]


COMMANDS = readme_commands()


def test_the_readme_documents_the_commands():
    """The parsing above finds the README's commands (so that the tests below test something)."""
    found = {shlex.split(c)[3] if c.startswith(PREFIXES[0]) else "torchrun" for c in COMMANDS}
    assert {"run", "finetune", "torchrun", "probe", "similarity", "shift", "ablate"} <= found


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # one store for the module: the probe of nli/0 finds its model


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(PREFIXES[0])], ids=lambda c: c[len(PREFIXES[0]):])
def test_a_readme_command_runs_on_its_profile_defaults(command, mirror, cache, tmp_path, monkeypatch, capsys):
    args = shrunk(shlex.split(command)[3:])
    if args[0] == "build":
        pytest.skip("the whole book is built by tests/book/test_build.py (smoke) and by make book")
    if args[0] == "run":
        args += ["--out", str(tmp_path)]
    if args[0] == "plan":
        args += ["--steps", "1"]
    monkeypatch.setenv("BOOK_CACHE_DIR", str(cache))
    monkeypatch.chdir(ROOT)
    assert main(args) == 0, capsys.readouterr().err[-2000:]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    if args[0] == "run":
        assert last.startswith("Executed notebook:")
        return
    summary = json.loads(last)
    if args[0] == "finetune":
        assert summary["task"] == args[args.index("--task") + 1] and summary["metrics"]
    elif args[0] in ("probe", "shift", "ablate"):
        assert summary["entries" if args[0] != "probe" else "layers"]
    elif args[0] == "similarity":
        assert set(summary["layers"]) == {"own", "wikipedia"} and summary["layers"]["own"]
    elif args[0] == "plan":
        assert summary["chapters"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(PREFIXES[1])])
def test_a_readme_torchrun_command_runs_on_its_profile_defaults(command, mirror, tmp_path):
    args = shlex.split(command)
    torchrun = Path(sys.executable).with_name("torchrun")
    start = args.index("-m")
    command = [str(torchrun), *args[1:start], "--master_port", "29533", *args[start:start + 2],
               *shrunk(args[start + 2:])]
    env = {**os.environ, "BOOK_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
