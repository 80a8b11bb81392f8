"""Where the book keeps what it computes or downloads, how it names it, and how it writes it.

The cache folder is ``$BOOK_CACHE_DIR`` when set (``make`` sets it to ``.cache/`` in the
repository), else ``~/.cache/what-happens-to-bert``. Every write goes to a temporary file in the
target's folder first and is renamed into place, so a crash never leaves a half-written file.

Every computed artifact (fine-tuned models, hidden states, probe tables, restoring and
out-of-domain scores, executed chapters) is stored under ``<cache>/<kind>/<key>``, and
:func:`key` is the one function that makes ``key``: a hash of the artifact's *identity* (the
content of what went in: model weights, data checksums, records, every setting), of the kind's
version in :data:`VERSIONS` and of the library's version. Bump a kind's version when a change to
its code changes its results; bump the library's version and every artifact is computed anew.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

CACHE_ENV = "BOOK_CACHE_DIR"
KEY_LENGTH = 24  # hex digits (96 bits) of every artifact key
VERSIONS = {
    "finetune": 1,  # the training loop, heads, features and metrics (lib.finetune)
    "layers": 1,  # tokenisation, pooling and extraction of word vectors (lib.encoders)
    "probes": 1,  # edge and structural probes, per layer and mixed (lib.probing)
    "restoring": 1,  # pre-trained layers put back into fine-tuned models (lib.experiments.restoring)
    "shift-scores": 1,  # fine-tuned models scored out of domain (lib.experiments.shift)
    "chapter": 1,  # executed chapters (lib.book.build)
}


def cache_dir() -> Path:
    """The project's cache folder (created on first use)."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "what-happens-to-bert"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def key(kind: str, identity: Mapping) -> str:
    """The cache key of an artifact of ``kind`` whose inputs are described by ``identity``.

    ``sha256(canonical JSON of {kind, VERSIONS[kind], library version, identity})``, its first
    :data:`KEY_LENGTH` hex digits. ``identity`` holds content (checksums, settings), not names.

    >>> key("probes", {"seed": 0}) == key("probes", {"seed": 0}) != key("probes", {"seed": 1})
    True
    >>> len(key("layers", {"seed": 0}))
    24
    """
    from lib import __version__

    if kind not in VERSIONS:
        raise ValueError(f"unknown artifact kind {kind!r}; valid: {', '.join(VERSIONS)}")
    content = {"kind": kind, "version": VERSIONS[kind], "library": __version__, "identity": identity}
    return digest(content)[:KEY_LENGTH]


def artifact_path(kind: str, identity: Mapping, suffix: str = "") -> Path:
    """``<cache>/<kind>/<key><suffix>``: where the artifact of ``identity`` lives."""
    return cache_dir() / kind / f"{key(kind, identity)}{suffix}"


def digest(value) -> str:
    """SHA-256 hex digest of a JSON-able value (canonical: sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_file_digests: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised while its path, inode, size and change times stay the same)."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if memo not in _file_digests:
        with open(path, "rb") as handle:
            _file_digests[memo] = sha256_of(iter(lambda: handle.read(1 << 20), b""))
    return _file_digests[memo]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "x.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['x.txt'])
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it replaces ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        # two renames, so a reader (or a kill) never finds ``target`` half-deleted
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{tmp.name[-8:]}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_of(chunks) -> str:
    """SHA-256 hex digest of an iterable of byte chunks."""
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()
