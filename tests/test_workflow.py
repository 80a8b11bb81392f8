"""The publishing workflow (.github/workflows/book.yml): actionlint finds nothing in it, and it does what
the project needs (build on push to main, a manual run per profile, the tests, GitHub Pages; a pull request
builds and tests without deploying; every job has a time limit; the cache is keyed and pruned so that it
does not grow run by run; a push does not replace a manual gpu/paper book).

actionlint runs ShellCheck on the ``run:`` scripts when ``shellcheck`` is on PATH and skips that part
when it is not; either way the workflow must be clean.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
PROFILES = sorted(path.stem for path in (ROOT / "lib" / "profiles").glob("*.yml"))
GPU_PROFILES = {"gpu", "paper"}  # the profiles that run on the self-hosted GPU runner


def actionlint() -> str:
    """The actionlint binary of this environment (requirements.txt installs it beside python)."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is missing: .venv/bin/python -m pip install -r requirements.txt")
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-no-color", "-oneline", str(path)], cwd=path.parent,
                          capture_output=True, text=True, timeout=120)


def load(text: str) -> dict:
    workflow = yaml.safe_load(text)
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def run_steps(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_actionlint_finds_nothing_in_the_workflow():
    result = lint(WORKFLOW)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and not output.strip(), f"actionlint (exit {result.returncode}):\n{output}"


BREAKAGES = {  # what is broken: (text replaced, its replacement, what actionlint must say)
    "an unknown input in runs-on": ("inputs.profile) && fromJSON('[\"self-hosted\"",
                                    "inputs.profil) && fromJSON('[\"self-hosted\"",
                                    r'book.yml:\d+:\d+: property "profil" is not defined .*\[expression\]'),
    "an unclosed ${{ }}": ("hashFiles('requirements.txt', 'lib/**', 'book/**') }}",
                           "hashFiles('requirements.txt', 'lib/**', 'book/**')",
                           r"unexpected EOF while lexing expression \[expression\]"),
    "needs an unknown job": ("needs: build", "needs: biuld", r'needs job "biuld" which does not exist .*\[job-needs\]'),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_actionlint_finds_the_error_in_a_broken_copy(breakage, tmp_path):
    """The check cannot pass vacuously: the same call reports each error put into a copy of the workflow."""
    old, new, message = BREAKAGES[breakage]
    text = WORKFLOW.read_text()
    assert old in text, f"the workflow no longer holds {old!r}: update this test"
    broken = tmp_path / "book.yml"
    broken.write_text(text.replace(old, new))
    result = lint(broken)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and re.search(message, output), f"actionlint (exit {result.returncode}):\n{output}"


def test_the_workflow_builds_tests_and_publishes():
    workflow = load(WORKFLOW.read_text())
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["on"]["pull_request"]["branches"] == ["main"]

    profile = workflow["on"]["workflow_dispatch"]["inputs"]["profile"]
    assert profile["type"] == "choice"
    assert sorted(profile["options"]) == PROFILES  # every profile of lib/profiles, no other
    default = re.search(r"^PROFILE \?= (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert profile["default"] == default

    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert GPU_PROFILES <= set(PROFILES)
    runs_on = build["runs-on"]
    for name in PROFILES:  # the GPU profiles, and only they, choose the self-hosted GPU runner
        assert (f"'{name}'" in runs_on or f'"{name}"' in runs_on) == (name in GPU_PROFILES), (name, runs_on)
    assert '"self-hosted", "gpu"' in runs_on and "'ubuntu-latest'" in runs_on
    assert build["env"]["PROFILE"] == "${{ inputs.profile || 'cpu' }}"

    steps = build["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    python = steps[uses.index("actions/setup-python")]["with"]
    assert (python["python-version"], python["cache"]) == ("3.11", "pip")
    assert python["cache-dependency-path"].split() == ["requirements.txt", "requirements-dev.txt"]
    restore = steps[uses.index("actions/cache/restore")]["with"]
    assert restore["path"] == ".cache" and "env.PROFILE" in restore["key"]
    assert "hashFiles('requirements.txt', 'lib/**', 'book/**')" in restore["key"]
    assert restore["restore-keys"] == "book-${{ env.PROFILE }}-"

    # The cache does not grow run by run: what the build did not read is pruned before it is saved,
    # and a pull request saves none.
    names = [step.get("name", "") for step in steps]
    mark, prune = names.index("Mark .cache/ unread"), names.index("Prune .cache/")
    save = uses.index("actions/cache/save")
    book = next(i for i, step in enumerate(steps) if step.get("run", "").startswith("make book"))
    assert uses.index("actions/cache/restore") < mark < book < prune < save
    assert "touch -a" in steps[mark]["run"] and "! -anewer" in steps[prune]["run"] and "-delete" in steps[prune]["run"]
    assert "github.event_name != 'pull_request'" in steps[save]["if"]

    runs = run_steps(build)
    test = next(i for i, step in enumerate(steps) if step.get("run") == "make test")
    upload = uses.index("actions/upload-pages-artifact")
    assert book < test < upload  # published only once the tests pass
    assert 'PROFILE="$PROFILE"' in steps[book]["run"]
    assert steps[test]["env"] == {"CI": "1", "BOOK_DATA_DIR": "${{ github.workspace }}/.cache/data"}
    assert any("apt-get install" in run and "chromium" in run for run in runs)
    assert steps[upload]["with"]["path"] == "_build/html"
    assert "PIP_EXTRA_INDEX_URL" not in build["env"]  # the Makefile chooses torch's build

    # Every job has a time limit.
    for name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"job {name} has no timeout-minutes"

    # A pull request builds and tests but does not deploy, nor wait for a deployment.
    assert "github.event_name != 'pull_request'" in deploy["if"] and "refs/heads/main" in deploy["if"]
    assert "pull_request" in workflow["concurrency"]["group"] and "'pages'" in workflow["concurrency"]["group"]

    # A push does not replace a manual gpu/paper book: it reads the newest successful manual run's
    # profile (in its run-name) and skips the deploy when that was gpu or paper.
    assert workflow["run-name"] == "book (${{ inputs.profile || 'cpu' }})"
    keep, deploying = deploy["steps"][0], deploy["steps"][-1]
    assert keep["if"] == "github.event_name == 'push'" and "--event workflow_dispatch" in keep["run"]
    assert all(f'"book ({name})"' in keep["run"] for name in GPU_PROFILES)
    assert deploying["if"] == "steps.keep.outputs.skip != 'true'"
    assert deploy["permissions"]["actions"] == "read"

    assert deploy["needs"] == "build"
    assert {k: v for k, v in deploy["permissions"].items() if k != "actions"} == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [step["uses"].split("@")[0] for step in deploy["steps"] if "uses" in step] == ["actions/deploy-pages"]
