"""Where the book keeps what it computes or downloads, how it names it, and how it writes it.

The cache folder is the same for every entry point (``make``, ``python -m lib``, papermill, a
notebook): ``$BOOK_CACHE_DIR`` when set, else ``.cache/`` in the repository when the library runs
from a checkout, else ``~/.cache/what-happens-to-bert`` (an installed copy, as in Colab). Every
write goes to a temporary file in the target's folder first and is renamed into place, so a crash
never leaves a half-written file; a full disk or an unwritable folder is a :class:`StorageError`.
Two processes that would compute one artifact take turns through :func:`locked`.

Every computed artifact (fine-tuned models, hidden states, probe tables, restoring and
out-of-domain scores, executed chapters) is stored under ``<cache>/<kind>/<key>``, and
:func:`key` is the one function that makes ``key``: a hash of the artifact's *identity* (the
content of what went in: model weights, data checksums, records, every setting), of the kind's
version in :data:`VERSIONS` and of the library's version. Bump a kind's version when a change to
its code changes its results; bump the library's version and every artifact is computed anew.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from lib.errors import InputError, StorageError

CACHE_ENV = "BOOK_CACHE_DIR"
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS)
KEY_LENGTH = 24  # hex digits (96 bits) of every artifact key
VERSIONS = {
    "finetune": 1,  # the training loop, heads, features and metrics (lib.finetune)
    "layers": 1,  # tokenisation, pooling and extraction of word vectors (lib.encoders)
    "probes": 4,  # edge and structural probes, per layer and mixed (lib.probing; 4: early stopping, baselines, counts)
    "restoring": 2,  # pre-trained layers put back into fine-tuned models (2: scored without dropout)
    "shift-scores": 1,  # fine-tuned models scored out of domain (lib.experiments.shift)
    "similarity": 1,  # pre-trained vs fine-tuned similarity with its seed floor (lib.similarity.compare)
    "chapter": 1,  # executed chapters (lib.book.build)
}


CHECKOUT = Path(__file__).resolve().parents[1]  # the repository, when the library runs from one


def default_cache_dir() -> Path:
    """``.cache/`` in the repository when run from a checkout, else the user's cache folder."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "book").is_dir():
        return CHECKOUT / ".cache"
    return Path.home() / ".cache" / "what-happens-to-bert"


def cache_dir() -> Path:
    """The project's cache folder: ``$BOOK_CACHE_DIR``, else :func:`default_cache_dir` (created on
    first use; a folder that cannot be created is a :class:`StorageError`)."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root).expanduser() if root else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StorageError(f"cannot create the cache folder {path} ({err.strerror or err}): set "
                           f"{CACHE_ENV} to a writable folder") from None
    return path


def _storage_error(err: OSError, target: Path) -> StorageError:
    what = "the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else \
        "the folder is not writable" if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else str(err)
    return StorageError(f"could not write {target} ({what}; {err.strerror or err}): free space there or "
                        f"set {CACHE_ENV} to a writable folder with room; nothing was kept")


@contextlib.contextmanager
def _storage_errors(target: Path) -> Iterator[None]:
    """An ``OSError`` of a full disk or an unwritable folder, raised while writing ``target``, as a
    :class:`StorageError` that says what to do; any other error as it is."""
    try:
        yield
    except OSError as err:
        if isinstance(err, StorageError) or err.errno not in _STORAGE_ERRNOS:
            raise
        raise _storage_error(err, target) from None


@contextlib.contextmanager
def locked(target: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (a file ``<target>.lock`` beside it) while the block runs.

    ``fcntl.flock``: the kernel releases it when the process ends, killed or not, so a lock is
    never stale. Whoever waited should look for the artifact again before computing it.
    """
    import fcntl

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        raise InputError(f"unknown artifact kind {kind!r}; valid: {', '.join(VERSIONS)}")
    content = {"kind": kind, "version": VERSIONS[kind], "library": __version__, "identity": identity}
    return digest(content)[:KEY_LENGTH]


def artifact_path(kind: str, identity: Mapping, suffix: str = "") -> Path:
    """``<cache>/<kind>/<key><suffix>``: where the artifact of ``identity`` lives."""
    return cache_dir() / kind / f"{key(kind, identity)}{suffix}"


def cached_json(kind: str, identity: Mapping, compute: Callable[[], Any]) -> Any:
    """The JSON artifact of ``kind`` and ``identity``: read from the cache when there, else
    ``compute()``, written atomically, and returned.

    >>> import os, tempfile
    >>> os.environ[CACHE_ENV] = tempfile.mkdtemp()
    >>> cached_json("probes", {"seed": 0}, lambda: {"score": 0.5})
    {'score': 0.5}
    >>> cached_json("probes", {"seed": 0}, lambda: 1 / 0)  # found: not computed again
    {'score': 0.5}
    >>> del os.environ[CACHE_ENV]
    """
    path = artifact_path(kind, identity, ".json")
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value), encoding="utf-8")
    return value


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
    tmp = None
    with _storage_errors(target):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            os.close(fd)
            tmp = Path(name)
            yield tmp
            os.replace(tmp, target)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it replaces ``target`` only on success."""
    target = Path(target)
    tmp = None
    with _storage_errors(target):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
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
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def sha256_of(chunks) -> str:
    """SHA-256 hex digest of an iterable of byte chunks."""
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()
