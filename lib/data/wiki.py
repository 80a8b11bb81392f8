"""The Wikipedia sample, built from the ``gensim==4.4.0`` wheel exactly as the data mirror's file was.

The source is the enwiki test dump in the wheel (:data:`DUMP`: 206 pages, 106 of them articles
that are not redirects). Wiki markup is removed by gensim's own ``filter_wiki``, taken from the same
wheel, whose SHA-256 :mod:`lib.data.sources` checks before anything here runs. The code is run from
the wheel, not copied into this project, because gensim is LGPL-2.1 and this project Apache-2.0;
and only the few pure functions it needs are compiled (:func:`gensim_functions`), because importing
gensim would need numpy, scipy and its compiled modules for one regex pipeline.

Rows, in dump order, for every page whose text is not empty and not a ``#REDIRECT``
(:func:`paragraphs` turns ``filter_wiki``'s text into a page's paragraphs; a page with none, like 3
of the 106, has no rows): ``{"title": str, "page_id": str, "paragraph": int, "text": str}``, one
``json.dumps(row, ensure_ascii=False)`` per line, ``paragraph`` counting a page's kept lines from 0.
5,824 rows; the content's SHA-256 is the mirror file's.
"""
from __future__ import annotations

import ast
import bz2
import io
import json
import re
import types
import zipfile
from html.entities import name2codepoint
from typing import Callable, Iterable
from xml.etree.ElementTree import iterparse

from lib.errors import DataError

DUMP = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
MIN_WORDS = 8
DROPPED = ("=", "*", "{|", "|", "!")  # headings, bulleted lists, table markup ('#' and ':' lines are kept)
_QUOTES = re.compile(r"'{2,}")  # wiki bold and italics, which filter_wiki leaves in
_UTILS = ("gensim/utils.py", ("RE_HTML_ENTITY", "safe_unichr", "decode_htmlentities", "any2unicode"))
_WIKICORPUS = ("gensim/corpora/wikicorpus.py",
               tuple(f"RE_P{i}" for i in range(18)) + ("filter_wiki", "remove_markup", "remove_template",
                                                        "remove_file", "get_namespace", "extract_pages"))


def paragraphs(text: str) -> list[str]:
    """The paragraphs of one page's ``filter_wiki`` output: its lines, cleaned and filtered.

    Each line is stripped; empty lines, headings, list items and table lines (:data:`DROPPED`) go;
    runs of whitespace become one space; lines of fewer than :data:`MIN_WORDS` whitespace-separated
    words go; then bold and italic quotes are removed and the ends stripped. The order matters for
    equality with the mirror: quotes around a removed template leave a double space
    (``called ''{{lang|es|…}}'' (English`` gives ``called  (English``).

    >>> paragraphs("==History==\\n* a list item of more than eight words in all\\n"
    ...            "'''Ada''' is a  name, used  in many   languages and places.\\nToo short.")
    ['Ada is a name, used in many languages and places.']
    """
    kept = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith(DROPPED):
            continue
        line = " ".join(line.split())
        if len(line.split()) >= MIN_WORDS:
            kept.append(_QUOTES.sub("", line).strip())
    return kept


def sample_rows(pages: Iterable[tuple[str, str, str]], filter_wiki: Callable[[str], str]) -> Iterable[dict]:
    """Rows of the sample from ``(title, wikitext, page_id)`` pages (see the module docstring)."""
    for title, text, page_id in pages:
        if not text or text.lstrip().lower().startswith("#redirect"):
            continue
        for number, paragraph in enumerate(paragraphs(filter_wiki(text))):
            yield {"title": title, "page_id": page_id, "paragraph": number, "text": paragraph}


def build_sample(wheel: bytes) -> bytes:
    """The sample's content (uncompressed jsonl, UTF-8) from the bytes of the gensim 4.4.0 wheel.

    The caller checks the wheel's SHA-256 first: this runs code from it.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as opened:
            extract_pages, filter_wiki = gensim_functions(opened)
            dump = bz2.decompress(opened.read(DUMP))
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, SyntaxError) as err:
        raise DataError(f"the gensim wheel is not the expected one ({type(err).__name__}: {err}): nothing was "
                        "kept; run again to download it anew, or use a local mirror.") from None
    rows = sample_rows(extract_pages(io.BytesIO(dump)), filter_wiki)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def gensim_functions(wheel: zipfile.ZipFile) -> tuple[Callable, Callable]:
    """``(extract_pages, filter_wiki)`` of gensim.corpora.wikicorpus, compiled from the wheel's source.

    Only the named top-level definitions are compiled (never the modules' imports): ``re``, ``iterparse``
    and a ``utils`` holding gensim.utils' ``to_unicode`` and ``decode_htmlentities`` are given to them.
    """
    helpers = _definitions(wheel, *_UTILS, {"re": re, "n2cp": name2codepoint})
    utils = types.SimpleNamespace(to_unicode=helpers["any2unicode"],
                                  decode_htmlentities=helpers["decode_htmlentities"])
    corpus = _definitions(wheel, *_WIKICORPUS, {"re": re, "iterparse": iterparse, "utils": utils})
    return corpus["extract_pages"], corpus["filter_wiki"]


def _definitions(wheel: zipfile.ZipFile, path: str, names: tuple[str, ...], namespace: dict) -> dict:
    """Compile the top-level functions and assignments called ``names`` in ``path`` into ``namespace``."""
    tree = ast.parse(wheel.read(path), filename=path)
    nodes = [node for node in tree.body
             if (isinstance(node, ast.FunctionDef) and node.name in names)
             or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets))]
    exec(compile(ast.Module(body=nodes, type_ignores=[]), path, "exec"), namespace)  # noqa: S102 - checked wheel
    missing = [name for name in names if name not in namespace]
    if missing:
        raise KeyError(f"{path} defines no {', '.join(missing)}")
    return namespace
