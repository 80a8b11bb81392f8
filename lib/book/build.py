"""Run the book's chapters through papermill and build the HTML with jupyter-book.

Layout under the output root (the repository for ``make book``):

- ``_build/executed/<profile>/<chapter>.ipynb``: executed notebooks (never committed);
- ``_build/src/``: the staged book (config, pages, executed notebooks, vendored vega);
- ``_build/html/``: the HTML.

A chapter is re-executed only when its notebook, its parameters or the library's source changed.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from lib.artifacts import digest, file_sha256, key
from lib.book.charts import write_mathjax, write_vega_assets
from lib.book.parameters import check_parameters, load_profile
from lib.book.prose import contradictions
from lib.errors import BookError, InputError

ROOT = Path(__file__).resolve().parents[2]
BOOK_FILES = ("_config.yml", "_toc.yml")


class ChapterError(BookError):
    """A chapter failed; the message names the executed notebook that shows where."""


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [entry["file"] for part in toc.get("parts", [toc]) for entry in part["chapters"]]
    return [root / f"{name}.ipynb" for name in files if (root / f"{name}.ipynb").is_file()]


def chapter_parameters(notebook: Path, profile: str, overrides: dict | None = None) -> dict:
    """The profile's values for the parameters ``notebook`` declares, with ``overrides`` applied.

    An override the notebook does not declare, or of the wrong type, is a ``ValueError``.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise InputError(f"{notebook.name} has no cell tagged 'parameters'")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise InputError(f"{notebook.name} has no parameter {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(declared))}")
    values = {key: value for key, value in load_profile(profile).items() if key in declared}
    values.update(overrides, profile=profile)
    check_parameters(**values)
    return values


def _fingerprint(notebook: Path, parameters: dict) -> str:
    """The key of an executed chapter: the notebook, its parameters and the library's source."""
    library = ROOT / "lib"
    sources = sorted(library.rglob("*.py")) + sorted(library.rglob("*.yml"))
    return key("chapter", {"notebook": file_sha256(notebook), "parameters": parameters,
                           "library": digest({str(p.relative_to(library)): file_sha256(p) for p in sources})})


def run_chapter(notebook: Path, out_dir: Path, profile: str, overrides: dict | None = None,
                force: bool = False) -> Path:
    """Execute ``notebook`` with papermill into ``out_dir``; reuse an up-to-date result."""
    import papermill

    parameters = chapter_parameters(notebook, profile, overrides)
    target = out_dir / notebook.name
    stamp = target.with_suffix(".sha256")
    fingerprint = _fingerprint(notebook, parameters)
    if not force and target.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return target
    stamp.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(notebook), str(target), parameters=parameters, cwd=str(notebook.parent),
                                   kernel_name="python3", progress_bar=False)
    except papermill.PapermillExecutionError as err:
        raise ChapterError(f"{notebook.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}. "
                           f"The executed notebook is {target}.") from None
    stamp.write_text(fingerprint)
    return target


# Numbers glued into the prose read as the text around them (myst-nb sets them bold).
BOOK_CSS = ("span.pasted-text { font-weight: inherit; }\n"
            # the closing "Reproduce this page" note: folded, set apart from the chapter
            "details.reproduce { margin-top: 2.5em; padding-top: 0.6em; border-top: 1px solid #ddd; }\n"
            "details.reproduce summary { cursor: pointer; font-weight: 600; }\n"
            "details.reproduce pre { white-space: pre-wrap; }\n"
            # the appendix's box "How this book differs from the paper": one screen
            "div.differences table { font-size: 0.85em; margin-bottom: 0.4em; }\n"
            "div.differences td, div.differences th { padding: 0.25em 0.6em; }\n"
            # pandas' styled tables carry no spacing of their own
            "table[id^='T_'] td, table[id^='T_'] th { padding: 0.2em 0.7em; }\n"
            "table[id^='T_'] caption { caption-side: top; text-align: left; color: #555; font-size: 0.9em; }\n")


def _stage_notebook(source: Path, target: Path) -> None:
    """Copy an executed chapter for the build, papermill's injected-parameters cell removed from the
    page (the chapter's own parameters cell stays, folded, and its closing note gives the command)."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, target)


def stage_book(executed: list[Path], stage: Path, root: Path = ROOT) -> Path:
    """Copy the book's sources into ``stage``, executed notebooks in place of the committed ones."""
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns("*.ipynb", "_static"))
    for name in BOOK_FILES:
        shutil.copy(root / name, stage / name)
    for notebook in executed:
        _stage_notebook(notebook, stage / "book" / notebook.name)
    write_vega_assets(stage / "_static")
    (stage / "_static" / "book.css").write_text(BOOK_CSS, encoding="utf-8")
    write_mathjax(stage / "_extra")
    return stage


def drop_repeated_scripts(html_root: Path) -> int:
    """Remove each inline ``<script>`` line of a page's head that repeats an earlier one; returns how
    many were removed.

    Sphinx 7.4 writes an inline script registered after the builder started twice: ``Sphinx.add_js_file``
    hands it to the builder as ``_JavaScript(None, body=...)`` and ``prepare_writing`` adds it again from
    the registry as ``_JavaScript('', body=...)``, which does not compare equal. sphinx-thebe registers
    ``const THEBE_JS_URL = ...`` that way (at ``env-before-read-docs``), so every page declared it twice,
    an error in the console; sphinx-togglebutton's selector is repeated the same way, harmlessly."""
    removed = 0
    for page in html_root.rglob("*.html"):
        head, sep, body = page.read_text(encoding="utf-8").partition("</head>")
        seen, kept = set(), []
        for line in head.splitlines(keepends=True):
            inline = line.strip()
            if inline.startswith("<script>") and inline in seen:
                removed += 1
                continue
            seen.add(inline)
            kept.append(line)
        if sep and len(kept) < len(head.splitlines()):
            page.write_text("".join(kept) + sep + body, encoding="utf-8")
    return removed


def check_consistency(executed: list[Path]) -> None:
    """Refuse a book whose pages state one quantity differently (:func:`lib.book.prose.contradictions`)."""
    import json

    found = contradictions({path.stem: json.loads(path.read_text(encoding="utf-8")) for path in executed})
    if found:
        raise ChapterError("the chapters state a quantity differently (make the chapter that computes it "
                           "another way use the same test set, seeds and rule as the others):\n  " + "\n  ".join(found))


def build_book(profile: str = "cpu", out_root: Path = ROOT, force: bool = False,
               log=print) -> Path:
    """Execute every chapter on ``profile`` and build the HTML; returns ``_build/html/index.html``."""
    load_profile(profile)  # an unknown profile fails here, before any work
    build = Path(out_root) / "_build"
    executed = []
    for notebook in chapters():
        log(f"running {notebook.name} ({profile})")
        executed.append(run_chapter(notebook, build / "executed" / profile, profile, force=force))
    check_consistency(executed)
    stage = stage_book(executed, build / "src")
    log("building the HTML with jupyter-book")
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(stage), "--path-output", str(out_root),
               "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ChapterError(f"jupyter-book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    drop_repeated_scripts(build / "html")
    return build / "html" / "index.html"
