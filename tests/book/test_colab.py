"""The chapters as Colab runs them: the repository's address, and one chapter run the Colab way.

A reader opens a chapter in Colab from the book's launch button, which opens the notebook from the
branch ``_config.yml`` names (``repository.branch``: main). Colab's kernel already has torch,
ipykernel and ``google.colab``; the chapter's first code cell (tagged remove-cell) sees
``google.colab`` and installs the book's library, with its packaged model, from the repository at
that same branch, so that the notebook and the library come from one ref and no tag is needed
(Colab's torch is kept: the library's dependencies are loose). It runs pip as a subprocess and
raises one clear error when pip fails (a failed ``%pip`` raises nothing, and the reader's first
error would be ``No module named 'lib'``). Every other cell then runs as it is, with ``import lib``
coming from that installed copy, not from a checkout.

Three tests:

- ``test_the_repository_address_is_the_same_everywhere`` (cheap): ``_config.yml``'s
  ``repository.url`` and ``repository.branch`` are the one source; ``lib.REPOSITORY``, every
  chapter's Colab cell (address and ref, one cell text in every chapter) and any GitHub address in
  README.md must agree with them.
- ``test_the_colab_cell_fails_when_the_install_fails`` (cheap): the cell, run by python with
  ``google.colab`` present and its address pointing at a repository without that branch, exits
  with its one-line error.
- ``test_a_chapter_runs_as_in_colab`` (slow, minutes; marked ``book``): a fresh virtual environment
  holding only what Colab has (``torch==2.13.0``, ipykernel, papermill), a fake ``google.colab``
  imported at kernel start, and a clone of this repository's main branch with every tag deleted;
  chapter 1 (the fastest) with only the address in its Colab cell changed to the clone (the one
  place the address is rewritten) runs under papermill on the smoke profile from a folder outside
  the repository, and fails when the cell fails. pip reaches the package registry for the
  library's dependencies (transformers, the packaged model, ...), as it does in Colab.

The clone holds the checkout's tracked and unignored files as they are now, committed in the clone
only (the checkout is not touched) on its branch ``main``: in CI, a clean clone of main, that is
HEAD itself; on a developer's machine it is the work about to be committed, so chapter and library
always match.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import lib

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTER = "book/01_layers.ipynb"  # the fastest chapter
PACKAGE = "what-happens-to-bert"
COLAB_HAS = ["torch==2.13.0", "ipykernel", "papermill"]  # what Colab's kernel already has (torch pinned here)
KERNEL = "colab-emulation"
# What the Colab cell installs: "what-happens-to-bert @ git+<url>@<ref>", run through pip as a subprocess.
INSTALL = re.compile(r'"' + re.escape(PACKAGE) + r' @ git\+(?P<url>[^"\s@]+)@(?P<ref>[^"@\s]+)"')
GITHUB = re.compile(r"https?://(?:www\.)?github\.com/[^\s)\]>\"'`]+")


def repository_url() -> str:
    """The one source of the repository's address: ``_config.yml`` ``repository.url``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def repository_branch() -> str:
    """The branch the launch button opens a chapter from: ``_config.yml`` ``repository.branch``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["branch"]


def colab_cell(notebook: dict) -> dict | None:
    """The chapter's Colab cell: the first code cell that looks for ``google.colab``."""
    return next((c for c in notebook["cells"] if c["cell_type"] == "code" and "google.colab" in _source(c)), None)


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _text(cell: dict) -> str:
    """Everything a cell printed or showed as text (streams, results, tracebacks)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
        parts.append("\n".join(output.get("traceback", [])))
    return "\n".join(p for p in parts if p)


# --- 1. one address everywhere -------------------------------------------------------------------

def test_the_repository_address_is_the_same_everywhere():
    url, branch = repository_url(), repository_branch()
    wrong, texts = [], set()
    if lib.REPOSITORY.rstrip("/") != url:
        wrong.append(f"lib/__init__.py: lib.REPOSITORY is {lib.REPOSITORY!r}, _config.yml says {url!r}")
    assert CHAPTERS, "no chapters found in book/"
    for path in CHAPTERS:
        name = path.relative_to(ROOT)
        cell = colab_cell(json.loads(path.read_text(encoding="utf-8")))
        match = INSTALL.search(_source(cell)) if cell else None
        if not match:
            wrong.append(f"{name}: the Colab cell installs no \"{PACKAGE} @ git+<url>@<ref>\"")
            continue
        texts.add(_source(cell))
        if match["url"] != url:
            wrong.append(f"{name}: the Colab cell installs from {match['url']!r}, _config.yml says {url!r}")
        if match["ref"] != branch:
            wrong.append(f"{name}: the Colab cell installs {match['ref']!r}, the launch button opens {branch!r} "
                         "(_config.yml's repository.branch)")
        if re.search(r"^\s*[%!]pip", _source(cell), re.M) or "returncode" not in _source(cell):
            wrong.append(f"{name}: the Colab cell must check pip's exit status (a failed %pip raises nothing)")
    if len(texts) > 1:
        wrong.append(f"the chapters' Colab cells differ ({len(texts)} versions): one text for all")
    readme = ROOT / "README.md"
    if readme.is_file():
        for mention in GITHUB.findall(readme.read_text(encoding="utf-8")):
            mention = mention.rstrip(".,;:")
            if mention.removesuffix(".git") != url and not mention.startswith(url + "/"):
                wrong.append(f"README.md: mentions {mention!r}, _config.yml says {url!r}")
    assert not wrong, "the repository's address differs from _config.yml's repository.url:\n" + "\n".join(wrong)


# --- 2. the cell fails when pip fails -------------------------------------------------------------

def test_the_colab_cell_fails_when_the_install_fails(tmp_path):
    """The cell, with ``google.colab`` present and its address pointing at a repository that has no
    such branch (as a tag-pinned cell met a main without tags): one clear line, exit status 1."""
    branch = repository_branch()
    empty = tmp_path / "no-branch"
    _run(["git", "init", "--quiet", "--initial-branch", "other", empty], timeout=60)
    _run(["git", "-C", empty, "-c", "user.name=colab-test", "-c", "user.email=colab-test@localhost", "commit",
          "--quiet", "--allow-empty", "-m", "nothing"], timeout=60)
    cell = colab_cell(json.loads((ROOT / CHAPTER).read_text(encoding="utf-8")))
    source = _source(cell).replace(f"git+{repository_url()}@{branch}\"", f"git+file://{empty}@{branch}\"")
    assert source.count(f"git+file://{empty}@{branch}\"") == 1, _source(cell)
    env = {**os.environ, "PYTHONPATH": str(_fake_google_colab(tmp_path)), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run([sys.executable, "-c", source], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    expected = (f"RuntimeError: pip could not install '{PACKAGE} @ git+file://{empty}@{branch}' "
                "(exit status 1; its output is above)")
    assert result.returncode == 1 and last == expected, result.stderr[-3000:]
    assert branch in result.stderr.replace(expected, "")  # pip's own output, above, names what is missing


# --- 3. one chapter run as in Colab --------------------------------------------------------------

def _run(command: list, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail with its output."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (f"`{' '.join(map(str, command))}` exited {result.returncode}:\n"
                                    f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}")
    return result


def _clean_env(venv: Path, **extra: str) -> dict:
    """The machine's environment (pip's settings and cache included) without this checkout's venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    ours = Path(sys.prefix) / "bin"
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != ours]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return {**env, **extra}


def _venv_python(python: Path, code: str, env: dict, cwd: Path) -> str:
    return _run([python, "-c", code], env=env, cwd=cwd, timeout=300).stdout.strip()


def _make_colab(tmp_path: Path) -> tuple[Path, dict]:
    """A fresh venv with only what Colab's kernel has; its python and environment."""
    base = getattr(sys, "_base_executable", None) or shutil.which("python3.11") or sys.executable
    venv = tmp_path / "colab-venv"
    _run([base, "-m", "venv", venv], timeout=300)
    env = _clean_env(venv)
    python = venv / "bin" / "python"
    # A current pip, as Colab has (the one that venv bundles rejects a git+file:/// requirement).
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env=env, timeout=300)
    _run([python, "-m", "pip", "install", "--quiet", *COLAB_HAS], env=env, timeout=1500)
    return python, env


def _make_clone(tmp_path: Path, branch: str) -> Path:
    """A clone of the repository holding the checkout's files as they are now on ``branch``, no tags."""
    clone = tmp_path / "repo"
    _run(["git", "clone", "--quiet", ROOT, clone], timeout=300)
    # Commit the checkout's uncommitted work in the clone only (nothing when the checkout is clean,
    # as in CI): the clone's index is filled from the checkout's work tree, which is only read.
    git = ["git", "-c", "user.name=colab-test", "-c", "user.email=colab-test@localhost",
           f"--git-dir={clone / '.git'}", f"--work-tree={ROOT}"]
    _run([*git, "add", "--all"], timeout=300)
    if subprocess.run([*git, "diff", "--cached", "--quiet"], timeout=300).returncode:
        _run([*git, "commit", "--quiet", "--no-verify", "-m", "the checkout's uncommitted work"], timeout=300)
        _run(["git", "-C", clone, "reset", "--quiet", "--hard"], timeout=300)
    _run(["git", "-C", clone, "checkout", "--quiet", "-B", branch], timeout=60)
    tags = _run(["git", "-C", clone, "tag", "--list"], timeout=60).stdout.split()
    if tags:
        _run(["git", "-C", clone, "tag", "--delete", *tags], timeout=60)
    assert not _run(["git", "-C", clone, "tag", "--list"], timeout=60).stdout.strip(), "the clone still has tags"
    return clone


def _fake_google_colab(tmp_path: Path) -> Path:
    """A folder for the kernel's PYTHONPATH that makes ``"google.colab" in sys.modules`` true at start.

    ``google`` stays a namespace package (no ``google/__init__.py``), so that protobuf's
    ``google.protobuf`` and the like still import next to it."""
    folder = tmp_path / "fake-colab"
    (folder / "google" / "colab").mkdir(parents=True)
    (folder / "google" / "colab" / "__init__.py").write_text(
        '"""A stand-in for Colab\'s google.colab: the chapters only ask whether it is imported."""\n')
    (folder / "sitecustomize.py").write_text("import google.colab  # noqa: F401  as Colab's kernel has it at start\n")
    return folder


def _install_kernel(python: Path, env: dict, fake_colab: Path) -> Path:
    """The venv's ipykernel as a kernel named ``KERNEL``, with the fake ``google.colab`` on its path;
    the folder to put first on JUPYTER_PATH."""
    prefix = python.parents[1]
    _run([python, "-m", "ipykernel", "install", "--prefix", prefix, "--name", KERNEL], env=env, timeout=300)
    spec_file = prefix / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert Path(spec["argv"][0]).parent == python.parent, spec["argv"]
    spec["env"] = {"PYTHONPATH": str(fake_colab)}
    spec_file.write_text(json.dumps(spec, indent=1))
    return prefix / "share" / "jupyter"


@pytest.mark.book
def test_a_chapter_runs_as_in_colab(mirror, tmp_path):
    started = time.monotonic()
    version, url, branch = lib.__version__, repository_url(), repository_branch()
    python, env = _make_colab(tmp_path)
    torch_before = _venv_python(python, "from importlib.metadata import version; print(version('torch'))", env, tmp_path)

    clone = _make_clone(tmp_path, branch)
    head = _run(["git", "-C", clone, "rev-parse", f"{branch}^{{commit}}"], timeout=60).stdout.strip()
    jupyter_path = _install_kernel(python, env, _fake_google_colab(tmp_path))

    # The chapter as committed on the branch, only the address in its Colab cell pointing at the clone.
    notebook = json.loads((clone / CHAPTER).read_text(encoding="utf-8"))
    cell = colab_cell(notebook)
    assert cell, f"{CHAPTER} has no Colab cell"
    before = _source(cell)
    after = before.replace(f"git+{url}@{branch}\"", f"git+file://{clone}@{branch}\"")
    assert after.count(f"git+file://{clone}@{branch}\"") == 1, f"{CHAPTER}: no install line to rewrite:\n{before}"
    cell["source"] = after
    workdir = tmp_path / "colab-content"  # Colab's /content: not the repository
    workdir.mkdir()
    source, executed = workdir / Path(CHAPTER).name, workdir / "executed.ipynb"
    source.write_text(json.dumps(notebook, indent=1), encoding="utf-8")

    run_env = {**env, "JUPYTER_PATH": str(jupyter_path), "BOOK_DATA_DIR": str(mirror),
               "BOOK_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [str(python), "-m", "papermill", str(source), str(executed), "-f", str(clone / "lib/profiles/smoke.yml"),
         "-k", KERNEL, "--cwd", str(workdir), "--log-output", "--no-progress-bar"],
        cwd=workdir, env=run_env, capture_output=True, text=True, timeout=2400)
    out = json.loads(executed.read_text(encoding="utf-8")) if executed.is_file() else None
    pip_output = _text(colab_cell(out)) if out else "(no executed notebook)"
    assert result.returncode == 0, (f"papermill exited {result.returncode}\n--- the Colab cell (pip)\n{pip_output}\n"
                                    f"--- papermill stderr\n{result.stderr[-8000:]}\n--- stdout\n{result.stdout[-3000:]}")
    cells = out["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    errors = [_text(c) for c in code if any(o["output_type"] == "error" for o in c.get("outputs", []))]
    assert not errors, "cells failed:\n" + "\n".join(errors)

    # The Colab cell ran and installed the library from the clone's branch, not as an editable copy.
    assert colab_cell(out)["execution_count"], "the Colab cell did not run"
    assert f"git+file://{clone}@{branch}" in _source(colab_cell(out))
    show = _run([python, "-m", "pip", "show", PACKAGE], env=env, cwd=workdir, timeout=300).stdout
    assert f"Version: {version}" in show and "Editable project location" not in show, show + pip_output
    direct_url = json.loads(_venv_python(
        python, f"from importlib.metadata import distribution; print(distribution({PACKAGE!r}).read_text('direct_url.json'))",
        env, workdir))
    assert direct_url["url"] == f"file://{clone}", direct_url
    assert direct_url["vcs_info"]["requested_revision"] == branch, direct_url
    assert direct_url["vcs_info"]["commit_id"] == head, direct_url
    assert not direct_url.get("dir_info", {}).get("editable"), direct_url

    # Colab's torch is kept.
    torch_after = _venv_python(python, "from importlib.metadata import version; print(version('torch'))", env, workdir)
    assert torch_after == torch_before, f"the install replaced Colab's torch {torch_before} with {torch_after}"

    # `import lib` comes from the venv's site-packages, not from the repository or the clone.
    where = json.loads(_venv_python(
        python, "import json, sysconfig, lib; print(json.dumps([lib.__file__, sysconfig.get_paths()['purelib'], "
                "lib.__version__]))", env, workdir))
    lib_file, site_packages, installed_version = Path(where[0]), Path(where[1]), where[2]
    assert lib_file.is_relative_to(site_packages), f"import lib gave {lib_file}, not the venv's {site_packages}"
    assert not lib_file.is_relative_to(ROOT) and not lib_file.is_relative_to(clone), lib_file
    assert installed_version == version

    # The chapter's later cells have outputs: the charts, the summary, every glued number, the closing note.
    def results(c: dict) -> list:
        return [o for o in c.get("outputs", []) if o["output_type"] == "execute_result"]

    def figures(c: dict) -> list:  # a chart is glued as a numbered figure (lib.charts.glue_figure)
        return [o for o in c.get("outputs", []) if o.get("metadata", {}).get("scrapbook", {}).get("name", "")
                .startswith("fig_") and "application/papermill.record/text/html" in o.get("data", {})]

    charts = [c for c in code if "lib.charts." in _source(c)]
    assert charts and all(figures(c) for c in charts), "a chart is missing"
    tables = [c for c in code if ".pivot_table(" in _source(c)]
    assert tables and all(results(c) for c in tables), "the summary table is missing"
    glued = {o["metadata"]["scrapbook"]["name"] for c in code for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    prose = "".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    wanted = {name.split(":")[0] for name in re.findall(r"\{glue:\w+\}`([^`]+)`", prose)}
    assert wanted and wanted <= glued, f"glued numbers missing: {sorted(wanted - glued)}"
    note = _text(code[-1])
    assert "(an installed copy, not a checkout)" in note, note
    assert re.search(rf"^torch\s+{re.escape(torch_before)}$", note, re.M), note
    shutil.rmtree(tmp_path / "colab-venv", ignore_errors=True)  # about 1 GB; kept when the test fails
    print(f"Colab-like run of {CHAPTER}: torch {torch_before} kept, {PACKAGE} {version} from {clone} "
          f"{branch} at {head[:8]} (no tags), {time.monotonic() - started:.0f} s")
