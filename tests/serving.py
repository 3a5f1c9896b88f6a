"""Helpers of the `serve` tests: the server in a thread on a free local port, and real HTTP requests to it."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import CONF_DIR
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from PIL import Image

from mnist_lightning.predict import predict

NAMES = [f"c{k}" for k in range(10)]  # conftest's named_tiny_ckpt's class names: the server must use them


@contextmanager
def serving(ckpt: Path, *overrides: str) -> Iterator[str]:
    """`serve`'s own server for `ckpt` on a free local port, in a thread of this process: its base URL."""
    from mnist_lightning.serve import address, make_server

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("serve", overrides=[f"ckpt_path={ckpt}", "port=0", *overrides])
    server, sock = make_server(cfg)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()  # not the main thread: uvicorn leaves the process's signal handlers alone
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        yield address(sock).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    """The image as a file's bytes."""
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def request(
    url: str, path: str, body: bytes | None = None, kind: str | None = "image/png"
) -> tuple[int, Any]:
    """(status, JSON) of GET `path`, or of POST `body` with Content-Type `kind` (None: urllib's default)."""
    headers = {"Content-Type": kind} if kind is not None and body is not None else {}
    req = urllib.request.Request(url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def predicted(ckpt: Path, folder: Path) -> list[dict[str, Any]]:
    """`predict`'s rows for the images in `folder` (its CSV beside the folder)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        overrides = [f"ckpt_path={ckpt}", f"inputs={folder}", f"output={folder.parent / 'out.csv'}"]
        return predict(hydra_compose("predict", overrides))
