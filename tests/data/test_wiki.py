"""The Wikipedia sample built from the gensim wheel: the line rules, the real build, a wheel refused unopened."""
import dataclasses
import gzip
import hashlib
import io
import json
import zipfile

import pytest

from lib.data import DataError, data_path, load_wikipedia
from lib.data import sources
from lib.data.wiki import paragraphs, sample_rows

WIKI = "wikipedia/enwiki_sample.jsonl.gz"


def test_paragraph_rules():
    text = "\n".join([
        "== A heading that has eight words in it ==",
        "* A bulleted item that has eight words in it",
        "{| class=wikitable", "| A table cell that has eight words in it", "! A table head with eight words in it",
        "# A numbered item that has eight words in it",
        ": An indented line that has eight words in it",
        "Seven   words, and  ''only'' seven in it.",
        "  The film was produced in 1996.  It was   ''''  shown twice.  ",
    ])
    assert paragraphs(text) == ["# A numbered item that has eight words in it",
                                ": An indented line that has eight words in it",
                                "The film was produced in 1996. It was  shown twice."]


def test_redirects_and_pages_without_paragraphs_have_no_rows():
    long = "A line of text that is long enough to be kept."
    pages = [("R", "#REDIRECT [[Elsewhere]]", "1"), ("Empty", "", "2"), ("Short", "Too short.", "3"),
             ("Kept", f"{long}\n\n{long}", "4")]
    assert list(sample_rows(pages, lambda text: text)) == [
        {"title": "Kept", "page_id": "4", "paragraph": number, "text": long} for number in (0, 1)]


def _serve(monkeypatch, root, url, wheel: bytes, **changes):
    name = sources.FILES[WIKI].url.rsplit("/", 1)[-1]
    (root / name).write_bytes(wheel)
    monkeypatch.setitem(sources.FILES, WIKI, dataclasses.replace(sources.FILES[WIKI], url=f"{url}/{name}", **changes))


def test_the_sample_is_built_from_the_wheel_as_the_mirror_was(gensim_wheel, server, cache, monkeypatch):
    """The real wheel from a local server, no mirror: the content's SHA-256 is the mirror file's."""
    root, url = server
    _serve(monkeypatch, root, url, gensim_wheel.read_bytes())
    path = data_path(WIKI)
    assert path == cache / "data" / WIKI and sorted(p.name for p in path.parent.iterdir()) == [path.name]
    content = gzip.decompress(path.read_bytes())
    assert hashlib.sha256(content).hexdigest() == sources.FILES[WIKI].sha256 == \
        "0812abd709ed44ad2ab577333df8cffa90013d3160a51841701c674b33048cb6"
    rows = [json.loads(line) for line in content.splitlines()]
    assert len(rows) == 5824 and len({row["page_id"] for row in rows}) == 103
    assert rows[0]["title"] == "Anarchism" and rows[0]["text"].startswith("Anarchism is a political philosophy")
    assert len(load_wikipedia()) == 5824


def _fake_wheel(marker) -> bytes:
    """A zip laid out like the wheel whose code, were it ever compiled, would write ``marker``."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("gensim/utils.py", f"RE_HTML_ENTITY = open({str(marker)!r}, 'w').write('ran')\n")
        opened.writestr("gensim/corpora/wikicorpus.py", "RE_P0 = None\n")
    return archive.getvalue()


def test_a_wheel_with_the_wrong_checksum_is_refused_unopened(server, cache, monkeypatch, tmp_path):
    root, url = server
    _serve(monkeypatch, root, url, _fake_wheel(tmp_path / "ran"))
    with pytest.raises(DataError, match=r"download of .*gensim.*has SHA-256 .*expected 724b93c9b6e9.*Nothing was kept"):
        data_path(WIKI)
    assert not (tmp_path / "ran").exists()  # no code of the refused wheel ran
    assert not [p for p in cache.rglob("*") if p.is_file()]  # the download is deleted, no file in the cache


def test_a_zip_that_is_not_the_wheel_is_a_clear_error(server, cache, monkeypatch):
    """A download that passes its check (the test pins the fake's checksum) but lacks gensim's code."""
    root, url = server
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("gensim/__init__.py", "")
    fake = archive.getvalue()
    _serve(monkeypatch, root, url, fake, download_sha256=hashlib.sha256(fake).hexdigest())
    with pytest.raises(DataError, match=r"not the expected one .*run again"):
        data_path(WIKI)
    assert not [p for p in cache.rglob("*") if p.is_file()]
