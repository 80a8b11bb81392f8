"""Fixtures of the data tests: an empty cache, a local HTTP server standing in for the sources, the gensim wheel."""
import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lib.artifacts import CACHE_ENV, default_cache_dir, file_sha256
from lib.data.sources import FILES

WIKI = "wikipedia/enwiki_sample.jsonl.gz"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache (``$BOOK_CACHE_DIR``) and no mirror: every file must come from a download."""
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BOOK_DATA_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www: ``(folder, base url)``."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def gensim_wheel(tmp_path_factory) -> Path:
    """The pinned gensim 4.4.0 wheel (24 MB): from the project's cache when ``make book`` left it there,
    else through pip (its own cache makes a second run take a second), pinned by platform to the same file."""
    spec = FILES[WIKI]
    name = spec.url.rsplit("/", 1)[-1]
    kept = Path(os.environ.get(CACHE_ENV) or default_cache_dir()) / "downloads" / name
    if kept.is_file() and file_sha256(kept) == spec.download_sha256:
        return kept
    folder = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "download", "gensim==4.4.0", "--no-deps", "--only-binary", ":all:",
               "--platform", "win_amd64", "--python-version", "3.10", "--implementation", "cp", "--abi", "cp310",
               "--quiet", "--dest", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not (folder / name).is_file():
        pytest.skip(f"the gensim wheel could not be fetched from PyPI with pip: {result.stderr.strip()[-300:]}")
    assert file_sha256(folder / name) == spec.download_sha256, "PyPI served another gensim wheel"
    return folder / name
