"""Every chapter through papermill on the smoke profile, and the jupyter-book build."""
import json

import pytest

from lib.book.build import ROOT, ChapterError, chapter_parameters, chapters, run_chapter

CHAPTER = ROOT / "book" / "01_layers.ipynb"


def test_the_smoke_book_builds_with_every_chapter_executed(smoke_book):
    html = smoke_book / "_build" / "html"
    assert (html / "index.html").is_file()
    for notebook in chapters():
        assert (html / "book" / f"{notebook.stem}.html").is_file()
        executed = json.loads((smoke_book / "_build" / "executed" / "smoke" / notebook.name).read_text())
        outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"]
        injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        assert 'profile = "smoke"' in "".join(injected[0]["source"])
    assert (html / "_static" / "vega-bundle.js").stat().st_size > 100_000
    assert (html / "mathjax" / "tex-mml-chtml.js").is_file()


def test_a_warm_run_reuses_the_executed_chapter(smoke_book):
    out = smoke_book / "_build" / "executed" / "smoke"
    before = (out / CHAPTER.name).stat().st_mtime_ns
    run_chapter(CHAPTER, out, "smoke")
    assert (out / CHAPTER.name).stat().st_mtime_ns == before


def test_unknown_and_mistyped_parameters_fail_before_running():
    with pytest.raises(ValueError, match="has no parameter 'n_layers'; valid: .*n_sentences"):
        chapter_parameters(CHAPTER, "smoke", {"n_layers": 3})
    with pytest.raises(ValueError, match="parameter 'n_sentences' must be int"):
        chapter_parameters(CHAPTER, "smoke", {"n_sentences": "many"})
    with pytest.raises(ValueError, match="unknown profile"):
        chapter_parameters(CHAPTER, "huge")
    assert chapter_parameters(CHAPTER, "smoke", {"pooling": "mean"})["pooling"] == "mean"


def test_a_failing_chapter_names_its_executed_notebook(mirror, tmp_path):
    with pytest.raises(ChapterError, match=r"01_layers.ipynb failed in cell .*InputError.*unknown model 'nonsense'"):
        run_chapter(CHAPTER, tmp_path, "smoke", {"model": "nonsense"})
    assert not (tmp_path / "01_layers.sha256").exists()  # a failed run is never reused


def test_a_repeated_inline_script_is_dropped_from_the_head(tmp_path):
    from lib.book.build import drop_repeated_scripts

    config = '<script>const THEBE_JS_URL = "x"</script>\n'
    page = tmp_path / "book" / "page.html"
    page.parent.mkdir()
    page.write_text(f"<head>\n{config}<script src=\"a.js\"></script>\n{config}</head>\n<body>{config}</body>")
    assert drop_repeated_scripts(tmp_path) == 1
    assert page.read_text().count("THEBE_JS_URL") == 2  # once in the head; the body is left alone
    assert drop_repeated_scripts(tmp_path) == 0

