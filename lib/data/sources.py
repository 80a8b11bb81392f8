"""Find a data file: the local mirror, then the project's cache, then its canonical source.

Every file is known by its path inside the mirror (``ud_english_ewt/en_ewt-ud-dev.conllu.gz``)
and by the SHA-256 of its uncompressed content, checked wherever the file comes from. A text file
whose line endings may differ between copies (SNLI: the mirror's copy ends its lines in CRLF, and
the official zip's bytes have never been compared with it) also has the SHA-256 of its lines, each
ended by LF: a copy passes when either digest matches, so CRLF and LF copies of the same records
pass and a changed record does not. Mirror and
cache hold the same layout of gzip files. Resolution order:

1. the mirror named by the ``data_dir`` argument, else by ``$BOOK_DATA_DIR``;
2. the cache, ``<cache>/data/<name>`` (see :func:`lib.artifacts.cache_dir`);
3. a download from the canonical source, checked and written atomically into the cache.

Every file has a canonical source. A download is kept in ``<cache>/downloads`` (checked by its own
SHA-256 where the registry publishes one: the PyPI files), then the file is cut from it (archive
members, first lines) or built from it (the Wikipedia sample: :mod:`lib.data.wiki`), and its content
checked before anything lands in ``<cache>/data``. Tests point a file at another URL by replacing its
:data:`FILES` entry (``dataclasses.replace(FILES[name], url=...)``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from lib.artifacts import atomic_path, cache_dir, file_sha256, sha256_of
from lib.data.wiki import build_sample
from lib.errors import DataError, StorageError

MIRROR_ENV = "BOOK_DATA_DIR"
_EWT = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/en_ewt-ud-{}.conllu"
_GUM = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-GUM/r2.16/en_gum-ud-{}.conllu"
_SNLI = "https://nlp.stanford.edu/projects/snli/snli_1.0.zip"
# SNLI's content with LF line endings (the mirror's files end in CRLF; see the module docstring).
_SNLI_TEST_LINES = "1147550151ca8b16ddb31d8dc0e739a670a65f7c3e64aac5951eaeff103fb220"
_SNLI_TRAIN_LINES = "c2952a121415f638fb3ac9967555a6f23e3762932cecb9273688d4723ea01793"
# PyPI files by their full address: the short /packages/source/ form is a redirect that not every
# mirror or proxy of PyPI serves.
_VADER = ("https://files.pythonhosted.org/packages/77/8c/4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/"
          "vaderSentiment-3.3.2.tar.gz")
_VADER_INNER = ("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",)
_VADER_SHA = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"  # PyPI's hash of the sdist
# One wheel of gensim 4.4.0 (any platform's holds the same test data; this is the smallest, 24.4 MB).
_GENSIM = ("https://files.pythonhosted.org/packages/53/fe/e483909cfbfa8cc4bfd30aa9fb5170c04316cc22f23c9906529f08fb9095/"
           "gensim-4.4.0-cp310-cp310-win_amd64.whl")
_GENSIM_SHA = "724b93c9b6e92cd15837048c71b7fdd38059276c85dd1f9c0375576f0aea153f"  # PyPI's hash of that wheel


@dataclass(frozen=True)
class DataFile:
    """One file of the mirror and where it comes from.

    ``sha256`` is the SHA-256 of the uncompressed content. ``members`` is the path through nested
    archives at ``url`` (empty: the url is the file); ``head_lines`` keeps only the first lines (the
    SNLI train sample); ``build`` turns the bytes so found into the content (the Wikipedia sample);
    ``download_sha256`` is the SHA-256 of the download itself, checked before it is opened.
    ``lines_sha256`` (text files whose line endings may differ between copies) is the SHA-256 of the
    content with every line ending made LF (:func:`lines_sha256`); the content passes when it
    matches either digest.
    """

    name: str
    sha256: str
    url: str
    members: tuple[str, ...] = ()
    head_lines: int | None = None
    build: Callable[[bytes], bytes] | None = None
    download_sha256: str | None = None
    lines_sha256: str | None = None


def _vader(stem: str, sha: str) -> DataFile:
    member = f"hutto_ICWSM_2014/{stem}_GroundTruth.txt"
    return DataFile(f"vader/{stem}_GroundTruth.txt.gz", sha, _VADER, _VADER_INNER + (member,),
                    download_sha256=_VADER_SHA)


FILES: dict[str, DataFile] = {f.name: f for f in [
    DataFile("ud_english_ewt/en_ewt-ud-train.conllu.gz",
             "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b", _EWT.format("train")),
    DataFile("ud_english_ewt/en_ewt-ud-dev.conllu.gz",
             "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6", _EWT.format("dev")),
    DataFile("ud_english_ewt/en_ewt-ud-test.conllu.gz",
             "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd", _EWT.format("test")),
    DataFile("ud_english_gum/en_gum-ud-dev.conllu.gz",
             "581997015a2d878ad49619032d265a9753e1b6b03d75ca18b04a00bb9ee8991d", _GUM.format("dev")),
    DataFile("ud_english_gum/en_gum-ud-test.conllu.gz",
             "fe95c0e744f81cdf2a307ce522604ecc05cd359c7c6d1abaa3a46c85d024f34c", _GUM.format("test")),
    DataFile("snli/snli_1.0_test.jsonl.gz",
             "05713b48f5d506dc64e28325afc561518ece5fec809306838c3916420e2412e7", _SNLI,
             ("snli_1.0/snli_1.0_test.jsonl",), lines_sha256=_SNLI_TEST_LINES),
    DataFile("snli/snli_1.0_train_first100k.jsonl.gz",
             "b4df4174f162d348a41befb580e52264e077032a312fc459b84dd4b2e2cf45aa", _SNLI,
             ("snli_1.0/snli_1.0_train.jsonl",), head_lines=100_000, lines_sha256=_SNLI_TRAIN_LINES),
    _vader("movieReviewSnippets", "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"),
    _vader("tweets", "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f"),
    _vader("nytEditorialSnippets", "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e"),
    _vader("amazonReviewSnippets", "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2"),
    # Built from gensim 4.4.0's test dump with gensim's filter_wiki, as the mirror's file was.
    DataFile("wikipedia/enwiki_sample.jsonl.gz",
             "0812abd709ed44ad2ab577333df8cffa90013d3160a51841701c674b33048cb6", _GENSIM,
             build=build_sample, download_sha256=_GENSIM_SHA),
]}

_verified: dict[tuple[str, int, int], str] = {}
_lines_verified: dict[tuple[str, int, int], str] = {}


def gz_sha256(path: Path) -> str:
    """SHA-256 of a gzip file's uncompressed content (memoised by path, size and mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        try:
            with gzip.open(path, "rb") as handle:
                _verified[key] = sha256_of(iter(lambda: handle.read(1 << 20), b""))
        except (OSError, EOFError, zlib.error) as err:  # a broken deflate stream is a zlib.error
            raise DataError(f"{path} is not a readable gzip file ({type(err).__name__}: {err}): it is corrupt; "
                            "delete it or replace it with the file from the canonical source.") from None
    return _verified[key]


def lines_sha256(chunks) -> str:
    r"""SHA-256 of text content with every line ending (CRLF, LF, none at the end) made LF.

    >>> lines_sha256([b"a\r\nb\r\n"]) == lines_sha256([b"a\n", b"b"]) != lines_sha256([b"a\nc\n"])
    True
    """
    sha, rest = hashlib.sha256(), b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()  # the last piece may continue in the next chunk
        for line in lines:
            sha.update(line.removesuffix(b"\r") + b"\n")
    if rest:
        sha.update(rest.removesuffix(b"\r") + b"\n")
    return sha.hexdigest()


def gz_lines_sha256(path: Path) -> str:
    """:func:`lines_sha256` of a gzip file's uncompressed content (memoised like :func:`gz_sha256`)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _lines_verified:
        gz_sha256(path)  # a file that is not readable gzip fails there, with its message
        with gzip.open(path, "rb") as handle:
            _lines_verified[key] = lines_sha256(iter(lambda: handle.read(1 << 20), b""))
    return _lines_verified[key]


def _or_lines(spec: DataFile) -> str:
    return f" (or {spec.lines_sha256[:12]}… with its line endings made LF)" if spec.lines_sha256 else ""


def _checked(path: Path, spec: DataFile, where: str) -> Path:
    actual = gz_sha256(path)
    if actual != spec.sha256 and not (spec.lines_sha256 and gz_lines_sha256(path) == spec.lines_sha256):
        raise DataError(
            f"{path} ({where}) has SHA-256 {actual[:12]}… of its content, expected "
            f"{spec.sha256[:12]}…{_or_lines(spec)}: it is corrupt or from another release. Replace it with a "
            f"good copy (its source: {spec.url})"
            + (", or delete it to download it again." if where == "cache" else "."))
    return path


def data_path(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Local, checked path of mirror file ``name`` (see the module docstring for the order)."""
    if name not in FILES:
        raise DataError(f"unknown data file {name!r}; known: {', '.join(sorted(FILES))}")
    spec = FILES[name]
    mirror = data_dir or os.environ.get(MIRROR_ENV)
    if mirror:
        if not Path(mirror).is_dir():
            raise DataError(f"data mirror {mirror} (from {'data_dir' if data_dir else '$' + MIRROR_ENV}) "
                            "is not a folder: point it at the folder that holds ud_english_ewt/, snli/, ….")
        if (Path(mirror) / name).is_file():
            return _checked(Path(mirror) / name, spec, "mirror")
    cached = cache_dir() / "data" / name
    if cached.is_file():
        return _checked(cached, spec, "cache")
    if not download:
        raise DataError(_missing_message(name, mirror))
    try:
        fetch(spec, cached)
    except StorageError:
        raise  # a full disk or an unwritable cache: its own message says what to do
    except OSError as err:
        raise DataError(f"could not download {spec.url} ({err}). " + _missing_message(name, mirror)) from None
    return cached


def checksums(names) -> dict[str, str]:
    """The SHA-256 of the content of each named mirror file: what a result computed from them depends on.

    Every file is checked against this checksum wherever it comes from (:func:`data_path`), so it
    stands for the file's content.
    """
    unknown = [name for name in names if name not in FILES]
    if unknown:
        raise DataError(f"unknown data file {unknown[0]!r}; known: {', '.join(sorted(FILES))}")
    return {name: FILES[name].sha256 for name in names}


def _missing_message(name: str, mirror: str | None) -> str:
    where = f"the mirror {mirror} has no {name}" if mirror else f"no mirror is set (${MIRROR_ENV})"
    return (f"{name} is not available: {where} and the cache has none. Set {MIRROR_ENV} "
            f"(or the data_dir parameter) to a local mirror that holds {name}.")


def fetch(spec: DataFile, target: Path) -> Path:
    """Download ``spec`` to ``target`` (gzip), checking its SHA-256 before anything is kept.

    A download with the wrong checksum (``download_sha256``), that cannot be read, or whose content
    has the wrong checksum, is deleted from ``<cache>/downloads`` so that the next run downloads it
    anew instead of reusing it.
    """
    archive = _download(spec.url)
    try:
        _check_download(spec, archive)
        raw = archive.read_bytes()
        for member in spec.members:
            raw = _extract(raw, member, spec.url, archive)
        if spec.build is not None:
            raw = spec.build(raw)
        if spec.head_lines is not None:
            raw = b"".join(io.BytesIO(raw).readlines()[: spec.head_lines])
        actual = sha256_of([raw])
        if actual != spec.sha256 and not (spec.lines_sha256 and lines_sha256([raw]) == spec.lines_sha256):
            raise DataError(f"{spec.url} gave content with SHA-256 {actual[:12]}…, expected {spec.sha256[:12]}…"
                            f"{_or_lines(spec)} for {spec.name}: the source changed or the download is corrupt. "
                            f"Nothing was kept (the download {archive} was deleted): run again to download it "
                            "anew, or use a local mirror.")
    except DataError:
        archive.unlink(missing_ok=True)
        raise
    with atomic_path(target) as tmp, gzip.open(tmp, "wb") as out:
        out.write(raw)
    return target


def _check_download(spec: DataFile, archive: Path) -> None:
    """Refuse a download whose SHA-256 is not ``spec.download_sha256`` (when there is one) before it is
    opened: code from the gensim wheel is run (:mod:`lib.data.wiki`), so only the pinned wheel may be."""
    actual = file_sha256(archive) if spec.download_sha256 else None
    if actual != spec.download_sha256:
        raise DataError(f"the download of {spec.url} has SHA-256 {actual[:12]}…, expected "
                        f"{spec.download_sha256[:12]}…: it is corrupt or was replaced. Nothing was kept (the "
                        f"download {archive} was deleted): run again to download it anew, or use a local mirror.")


def _download(url: str) -> Path:
    """Fetch ``url`` once into ``<cache>/downloads`` (atomic, with a progress bar)."""
    target = cache_dir() / "downloads" / url.rstrip("/").rsplit("/", 1)[-1]
    if target.is_file():
        return target
    with urllib.request.urlopen(url, timeout=60) as response, atomic_path(target) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                bar.update(len(chunk))
    return target


def _extract(raw: bytes, member: str, url: str, archive: Path) -> bytes:
    try:
        if zipfile.is_zipfile(io.BytesIO(raw)):
            with zipfile.ZipFile(io.BytesIO(raw)) as opened:
                return opened.read(member)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as opened:
            handle = opened.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError as err:
        raise DataError(f"{url} has no member {member!r} ({err}): the source changed; the download {archive} "
                        "was deleted; use a local mirror instead.") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
        raise DataError(f"the download of {url} is not a complete archive ({type(err).__name__}: {err}); it was "
                        f"deleted ({archive}): run again to download it anew, or use a local mirror.") from None

