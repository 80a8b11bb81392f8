"""The one key function behind every cache: fixed length, canonical, and it follows the code versions."""
import pytest

import lib
from lib import artifacts
from lib.artifacts import KEY_LENGTH, VERSIONS, artifact_path, key


def test_a_key_is_canonical_and_of_one_length():
    identity = {"model": {"files": "ab"}, "pooling": "first", "n": [1, 2]}
    reordered = {"n": [1, 2], "pooling": "first", "model": {"files": "ab"}}
    assert key("layers", identity) == key("layers", reordered)
    assert len({len(key(kind, identity)) for kind in VERSIONS}) == 1 == len({KEY_LENGTH})
    assert len({key(kind, identity) for kind in VERSIONS}) == len(VERSIONS)  # kinds never share a key
    assert key("layers", {**identity, "pooling": "mean"}) != key("layers", identity)


def test_a_key_follows_the_library_and_the_kind_version(monkeypatch):
    identity = {"seed": 0}
    before = {kind: key(kind, identity) for kind in VERSIONS}
    monkeypatch.setitem(VERSIONS, "probes", VERSIONS["probes"] + 1)
    assert key("probes", identity) != before["probes"] and key("layers", identity) == before["layers"]
    monkeypatch.setattr(lib, "__version__", lib.__version__ + ".post1")
    assert all(key(kind, identity) != before[kind] for kind in VERSIONS)


def test_an_unknown_kind_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(artifacts.CACHE_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="unknown artifact kind 'probe'; valid: finetune, layers, probes"):
        key("probe", {})
    path = artifact_path("probes", {"seed": 0}, ".json")
    assert path.parent == tmp_path / "probes" and path.name == key("probes", {"seed": 0}) + ".json"


def test_the_package_version_is_the_library_version():
    import tomllib
    from importlib import metadata
    from pathlib import Path

    pyproject = tomllib.loads((Path(lib.__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "lib.__version__"}
    assert metadata.version("what-happens-to-bert") == lib.__version__


def test_a_file_digest_follows_the_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 100)
    first = artifacts.file_sha256(path)
    assert artifacts.file_sha256(path) == first
    path.write_bytes(b"b" * 100)  # rewritten in place, same size
    assert artifacts.file_sha256(path) != first
