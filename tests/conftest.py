"""Shared fixtures: the benchmark and training sets, a local HTTP server for downloads, the MOS tests' folders
and kit, a fixed seed."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import torch
from mos_helpers import make_folders, make_kit

PROJECT = Path(__file__).resolve().parent.parent

torch.set_num_threads(min(2, os.cpu_count() or 1))


def _unavailable(reason: str) -> None:
    """Skip the calling test locally; fail it on CI (``CI`` set), where everything it needs is installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must have it (see .ci/run and the dev extras)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unavailable():
    """``unavailable(reason)``: skip locally, fail on CI, as ``benchmarks_dir`` does for missing data."""
    return _unavailable


def _shared_dir(env: str, name: str, what: str) -> Path:
    """``$env``, else ``../shared/data/<name>``: skip the calling test without it, fail it in CI."""
    path = Path(os.environ.get(env, PROJECT.parent / "shared" / "data" / name))
    if path.is_dir():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing: CI must have the shared data (set {env})")
    pytest.skip(f"{what} not found (set {env})")


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """``../shared/data/benchmarks`` (Set5, Set14, BSD100 HR): skip without it, fail in CI."""
    return _shared_dir("SRLIB_BENCHMARKS_DIR", "benchmarks", "benchmark sets")


@pytest.fixture(scope="session")
def train_dir() -> Path:
    """``../shared/data/train`` (T91, BSD200): skip without it, fail in CI."""
    return _shared_dir("SRLIB_TRAIN_DIR", "train", "training sets")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """The MOS tests' synthetic HR and SR folders (``mos_helpers.make_folders``), made once per test module."""
    return make_folders(tmp_path_factory.mktemp("sr"))


@pytest.fixture(scope="module")
def kit(folders, tmp_path_factory) -> Path:
    """The MOS tests' shared kit over ``folders`` (``mos_helpers.make_kit``), made once per test module."""
    return make_kit(folders, tmp_path_factory.mktemp("kit") / "KIT")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (the standard handler ignores Range).

    Each GET is appended to ``requests`` as ``(path, Range header or None, bytes served)``.
    """

    def __init__(self, *args, requests: list, **kwargs):
        self.requests = requests  # before super().__init__, which handles the request
        super().__init__(*args, **kwargs)

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.requests.append((self.path, self.headers.get("Range"), 0))
            return self.send_error(404)
        body = path.read_bytes()
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        if start >= len(body):  # nothing to send: 416, with the file's length (RFC 9110)
            self.requests.append((self.path, self.headers.get("Range"), 0))
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        self.requests.append((self.path, self.headers.get("Range"), len(body) - start))  # before the client has it
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture
def server(tmp_path):
    """(site folder, base URL, list of requests served)."""
    site = tmp_path / "site"
    site.mkdir()
    requests = []
    handler = functools.partial(_RangeHandler, directory=str(site), requests=requests)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
