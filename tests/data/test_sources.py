"""Mirror, cache and download: checksums, clear errors, nothing half-written (fixtures: conftest.py)."""
import dataclasses
import gzip
import hashlib
import io
import re
import shutil
import tarfile
import zipfile

import pytest

from lib.data import DataError, data_path, load_ewt, load_snli, records_digest
from lib.data import sources
from lib.data.sources import DataFile

DEV = "ud_english_ewt/en_ewt-ud-dev.conllu.gz"


def _targz(member: str, content: bytes) -> bytes:
    """A .tar.gz archive holding ``content`` as ``member``."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return archive.getvalue()


def _register(monkeypatch, spec):
    monkeypatch.setitem(sources.FILES, spec.name, spec)
    return spec


def test_mirror_file_is_checked(mirror, tmp_path, cache):
    bad = tmp_path / "bad-mirror"
    (bad / "ud_english_ewt").mkdir(parents=True)
    shutil.copy(mirror / DEV, bad / DEV)
    assert load_ewt("dev", data_dir=str(bad))[0].words[0] == "From"
    with gzip.open(bad / DEV, "ab") as handle:
        handle.write(b"# one more line\n")
    with pytest.raises(DataError, match="SHA-256.*corrupt or from another release"):
        data_path(DEV, data_dir=bad)


def test_not_gzip_is_a_clear_error(tmp_path, cache):
    (tmp_path / "m" / "ud_english_ewt").mkdir(parents=True)
    (tmp_path / "m" / DEV).write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        data_path(DEV, data_dir=tmp_path / "m")


def test_missing_file_offline_names_the_file_and_the_setting(tmp_path, cache, monkeypatch):
    _register(monkeypatch, DataFile(DEV, sources.FILES[DEV].sha256, "http://127.0.0.1:9/closed"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"(?s)could not download.*en_ewt-ud-dev.*BOOK_DATA_DIR"):
        data_path(DEV, data_dir=tmp_path / "empty")
    assert not any(cache.rglob("*.conllu.gz"))


def test_mirror_that_is_not_a_folder(tmp_path, cache):
    with pytest.raises(DataError, match="is not a folder"):
        data_path(DEV, data_dir=tmp_path / "nowhere")


def test_download_is_checked_gzipped_cached_and_reused(server, cache, monkeypatch):
    root, url = server
    content = b"# sent_id = weblog-1\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
    (root / "tiny.conllu").write_bytes(content)
    spec = _register(monkeypatch, DataFile("test/tiny.conllu.gz", hashlib.sha256(content).hexdigest(),
                                           f"{url}/tiny.conllu"))
    path = data_path(spec.name)
    assert path == cache / "data" / spec.name and gzip.decompress(path.read_bytes()) == content
    (root / "tiny.conllu").unlink()  # the second call must not need the server
    assert data_path(spec.name) == path


def test_download_with_wrong_checksum_keeps_nothing(server, cache, monkeypatch):
    root, url = server
    (root / "tiny.conllu").write_bytes(b"tampered\n")
    spec = _register(monkeypatch, DataFile("test/tiny.conllu.gz", "0" * 64, f"{url}/tiny.conllu"))
    with pytest.raises(DataError, match="Nothing was kept"):
        data_path(spec.name)
    assert not (cache / "data" / spec.name).exists()
    assert not [p for p in cache.rglob("*.part")]
    assert not list((cache / "downloads").iterdir())  # the bad download is gone: the next run fetches it anew


def test_every_bit_flip_in_a_gzip_file_is_a_data_error(tmp_path, cache):
    """CRC errors, bad headers and broken deflate streams (a raw ``zlib.error``) alike."""
    import random
    import zlib

    content = b"".join(b"1\tword%d\tword\tNOUN\tNN\t_\t0\troot\t_\t_\n\n" % i for i in range(400))
    packed = gzip.compress(content, mtime=0)
    folder = tmp_path / "m" / "ud_english_ewt"
    folder.mkdir(parents=True)
    rng, kinds = random.Random(0), set()
    for trial in range(200):
        flipped = bytearray(packed)
        flipped[rng.randrange(10, len(packed) - 8)] ^= 1 << rng.randrange(8)
        try:
            gzip.decompress(bytes(flipped))
            continue  # a flip deflate does not notice: the checksum will
        except Exception as err:  # noqa: BLE001 - we record what the raw reader raises
            kinds.add(type(err))
        path = folder / f"flip{trial}.conllu.gz"
        path.write_bytes(bytes(flipped))
        with pytest.raises(DataError, match="not a readable gzip file.*corrupt"):
            sources.gz_sha256(path)
    assert zlib.error in kinds  # the case that escaped as a raw zlib.error before


def test_a_truncated_download_is_deleted_and_fetched_anew(server, cache, monkeypatch):
    root, url = server
    lines = b"".join(b"line %d\n" % i for i in range(2000))
    archive = _targz("pkg/data.txt", lines)
    (root / "pkg.tar.gz").write_bytes(archive)
    spec = _register(monkeypatch, DataFile("test/data.txt.gz", hashlib.sha256(lines).hexdigest(),
                                           f"{url}/pkg.tar.gz", ("pkg/data.txt",)))
    downloads = cache / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "pkg.tar.gz").write_bytes(archive[: len(archive) // 2])  # an old cut-off copy
    with pytest.raises(DataError, match=r"not a complete archive .*deleted.*run again"):
        data_path(spec.name)
    assert not list(downloads.iterdir()) and not (cache / "data" / spec.name).exists()
    assert gzip.decompress(data_path(spec.name).read_bytes()) == lines  # the next run downloads it again


def test_download_extracts_nested_archives_and_head_lines(server, cache, monkeypatch):
    root, url = server
    lines = b"".join(b"line %d\n" % i for i in range(10))
    (root / "pkg.tar.gz").write_bytes(_targz("pkg/inner.tar.gz", _targz("inner/data.txt", lines)))
    head = b"".join(b"line %d\n" % i for i in range(3))
    spec = _register(monkeypatch, DataFile("test/head.txt.gz", hashlib.sha256(head).hexdigest(),
                                           f"{url}/pkg.tar.gz", ("pkg/inner.tar.gz", "inner/data.txt"), 3))
    assert gzip.decompress(data_path(spec.name).read_bytes()) == head


def test_unknown_file_lists_the_known_ones():
    with pytest.raises(DataError, match="known: .*snli"):
        data_path("snli/snli_1.0_dev.jsonl.gz")


def test_every_file_has_a_canonical_source_and_checksums():
    """Every file downloads (no file is mirror-only); PyPI's files are also checked by PyPI's hash."""
    for name, spec in sources.FILES.items():
        assert spec.url.startswith("https://") and re.fullmatch(r"[0-9a-f]{64}", spec.sha256), name
        if spec.url.startswith("https://files.pythonhosted.org/"):
            assert "/packages/source/" not in spec.url, name  # the short form is a redirect some proxies lack
            assert re.fullmatch(r"[0-9a-f]{64}", spec.download_sha256 or ""), name


def test_a_real_file_downloads_checked_into_the_cache(mirror, server, cache, monkeypatch):
    """EWT dev served as GitHub serves it (the plain .conllu): downloaded, checked against the project's
    checksum, gzipped into the cache with nothing else left beside it, equal to the mirror's."""
    root, url = server
    content = gzip.decompress((mirror / DEV).read_bytes())
    (root / "en_ewt-ud-dev.conllu").write_bytes(content)
    _register(monkeypatch, dataclasses.replace(sources.FILES[DEV], url=f"{url}/en_ewt-ud-dev.conllu"))
    path = data_path(DEV)
    assert path == cache / "data" / DEV and gzip.decompress(path.read_bytes()) == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["en_ewt-ud-dev.conllu.gz"]  # no .part file
    assert load_ewt("dev")[0].words[0] == "From"


def test_a_corrupt_real_file_is_refused_and_nothing_is_kept(mirror, server, cache, monkeypatch):
    root, url = server
    content = bytearray(gzip.decompress((mirror / DEV).read_bytes()))
    content[1000] ^= 1  # one bit: the download is complete, and wrong
    (root / "en_ewt-ud-dev.conllu").write_bytes(bytes(content))
    _register(monkeypatch, dataclasses.replace(sources.FILES[DEV], url=f"{url}/en_ewt-ud-dev.conllu"))
    with pytest.raises(DataError, match=r"SHA-256 .*expected 531a54ff90d6.*Nothing was kept.*run again"):
        data_path(DEV)
    assert not [p for p in cache.rglob("*") if p.is_file()]


# --- SNLI's line endings: the mirror's copy ends its lines in CRLF, the official zip's may not -------

SNLI_TEST = "snli/snli_1.0_test.jsonl.gz"


def _gz(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(content)
    return path


def test_a_crlf_copy_and_an_lf_copy_pass_the_same_check_and_a_changed_one_fails(mirror, tmp_path, cache,
                                                                                 monkeypatch):
    """A slice of SNLI registered by its CRLF bytes and its LF lines: both copies pass, one changed label fails."""
    lines = gzip.decompress((mirror / SNLI_TEST).read_bytes()).splitlines(keepends=True)[:50]
    crlf = b"".join(line.rstrip(b"\r\n") + b"\r\n" for line in lines)
    lf = crlf.replace(b"\r\n", b"\n")
    assert crlf != lf and crlf.count(b"\r\n") == 50
    _register(monkeypatch, DataFile(SNLI_TEST, hashlib.sha256(crlf).hexdigest(), sources.FILES[SNLI_TEST].url,
                                    lines_sha256=sources.lines_sha256([lf])))
    passed = {}
    for name, content in [("crlf", crlf), ("lf", lf)]:
        _gz(tmp_path / name / SNLI_TEST, content)
        assert data_path(SNLI_TEST, data_dir=tmp_path / name) == tmp_path / name / SNLI_TEST
        passed[name] = load_snli("test", data_dir=str(tmp_path / name))
    assert len(passed["crlf"]) > 40 and records_digest(passed["crlf"]) == records_digest(passed["lf"])
    # Without the digest of its lines, the LF copy would be refused: the check is what lets it pass.
    _register(monkeypatch, dataclasses.replace(sources.FILES[SNLI_TEST], lines_sha256=None))
    with pytest.raises(DataError, match="corrupt or from another release"):
        data_path(SNLI_TEST, data_dir=tmp_path / "lf")
    _register(monkeypatch, dataclasses.replace(sources.FILES[SNLI_TEST], lines_sha256=sources.lines_sha256([lf])))
    changed = lf.replace(b'"gold_label": "neutral"', b'"gold_label": "entailment"', 1)
    assert changed != lf
    _gz(tmp_path / "changed" / SNLI_TEST, changed)
    message = r"SHA-256 .* expected .* \(or .* with its line endings made LF\): it is corrupt"
    with pytest.raises(DataError, match=message):
        data_path(SNLI_TEST, data_dir=tmp_path / "changed")


def test_the_real_snli_files_pass_with_lf_line_endings(mirror, tmp_path, cache):
    """The registered checksums themselves: the mirror's CRLF files pass, and so do LF copies of them."""
    for name in ("snli/snli_1.0_test.jsonl.gz", "snli/snli_1.0_train_first100k.jsonl.gz"):
        content = gzip.decompress((mirror / name).read_bytes())
        assert b"\r\n" in content  # the mirror's copy: CRLF
        lf = _gz(tmp_path / "lf" / name, content.replace(b"\r\n", b"\n"))
        assert sources.gz_sha256(lf) != sources.FILES[name].sha256
        assert data_path(name, data_dir=tmp_path / "lf") == lf
    as_lf, as_mirror = load_snli("test", data_dir=str(tmp_path / "lf")), load_snli("test", data_dir=str(mirror))
    assert records_digest(as_lf) == records_digest(as_mirror)


def test_an_lf_download_of_snli_is_accepted(mirror, server, cache, monkeypatch):
    """SNLI's zip served with LF line endings: downloaded, checked by its lines, kept in the cache."""
    root, url = server
    content = gzip.decompress((mirror / SNLI_TEST).read_bytes()).replace(b"\r\n", b"\n")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("snli_1.0/snli_1.0_test.jsonl", content)
    (root / "snli_1.0.zip").write_bytes(archive.getvalue())
    _register(monkeypatch, dataclasses.replace(sources.FILES[SNLI_TEST], url=f"{url}/snli_1.0.zip"))
    path = data_path(SNLI_TEST)
    assert path == cache / "data" / SNLI_TEST and gzip.decompress(path.read_bytes()) == content
