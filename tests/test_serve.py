"""`python -m mnist_lightning.serve`'s HTTP API: real requests to a server on a free local port (issue 21)."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from serving import NAMES, png, predicted, request, serving

LIMITS = ["max_upload_mb=0.05", "max_pixels=1000000"]  # small, so that tests can cross them cheaply


@pytest.fixture(scope="module")
def url(named_tiny_ckpt: Path) -> Iterator[str]:
    """The tiny model served with small limits."""
    with serving(named_tiny_ckpt, *LIMITS) as base:
        yield base


def claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's opening."""
    data = bytearray(png(Image.new("L", (1, 1))))
    ihdr = 8 + 8  # the signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)


def user_images(folder: Path) -> list[Path]:
    """Images as users send them: small and large, PNG and JPEG, grey, RGB and transparent."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    ink = rng.integers(0, 255, size=(28, 28), dtype=np.uint8)
    photo = Image.fromarray(ink).resize((900, 600)).convert("RGB")
    layer = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    layer.putalpha(Image.fromarray(ink).resize((120, 120)))
    images = {"small.png": Image.fromarray(ink), "photo.jpg": photo, "layer.png": layer}
    for name, image in images.items():
        image.save(folder / name)
    return sorted(folder.iterdir())


def test_answers_are_predicts_with_the_checkpoints_own_class_names(
    url: str, named_tiny_ckpt: Path, tmp_path: Path
) -> None:
    files = user_images(tmp_path / "mine")
    rows = {Path(row["path"]).name: row for row in predicted(named_tiny_ckpt, tmp_path / "mine")}
    for path in files:
        kind = "image/jpeg" if path.suffix == ".jpg" else "image/png"
        status, answer = request(url, "/predict", path.read_bytes(), kind)
        assert status == 200, answer
        assert set(answer) == {"class", "name", "confidence", "probs"}
        row = rows[path.name]
        assert answer["class"] == row["class"] and answer["name"] == NAMES[row["class"]] == row["name"]
        assert np.allclose(answer["probs"], row["probs"], atol=1e-5)  # exactly predict's preparation
        assert answer["confidence"] == max(answer["probs"]) and len(answer["probs"]) == len(NAMES)


def test_health_and_info(url: str) -> None:
    assert request(url, "/health") == (200, {"status": "ok"})
    status, info = request(url, "/info")
    assert status == 200
    assert info["model"] == "MLP" and info["dataset"] == "mnist" and info["classes"] == NAMES
    assert info["input_shape"] == [1, 28, 28] and info["preprocess"] == "digit"
    assert info["checkpoint"] == "best.ckpt" and 0 <= info["test_acc"] <= 1  # from the run's metrics.json


def test_bad_requests_get_a_4xx_json_and_the_server_goes_on(url: str) -> None:
    digit = png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)))
    bad = {
        "empty": (b"", "image/png", 400, "empty"),
        "text": (b"hello, I am not an image", "image/png", 400, "not an image"),
        "truncated": (digit[: len(digit) // 2], "image/png", 400, "could not be decoded"),
        "too large": (bytes(60_000), "image/png", 413, "limit of 0.05 MB"),
        "bomb": (claiming(100_000, 100_000), "image/png", 413, "decompression bomb"),
        "over max_pixels": (claiming(2000, 1000), "image/png", 413, "2000 x 1000 pixels"),
        "text/plain": (digit, "text/plain", 415, "Content-Type text/plain is not an image"),
        "form": (digit, None, 415, "application/x-www-form-urlencoded"),  # urllib's default
    }
    for what, (body, kind, code, words) in bad.items():
        status, answer = request(url, "/predict", body, kind)
        assert (status, set(answer)) == (code, {"error"}), what
        assert words in answer["error"], (what, answer)
    assert request(url, "/predict")[0] == 405  # GET: wrong method, still JSON
    for path in ("/nothing", "/page/../../serve.py", "/%2e%2e/conf/serve.yaml", "/info/../../../etc/passwd"):
        status, answer = request(url, path)  # no request names a file: every other path is a 404
        assert status == 404 and "this server answers" in answer["error"], path
    assert request(url, "/health")[0] == 200
    assert request(url, "/predict", digit)[0] == 200


def test_a_chunked_body_is_cut_off_at_the_limit(url: str) -> None:
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    chunks = (bytes(10_000) for _ in range(100))  # 1 MB without a Content-Length: counted as it comes
    conn.request("POST", "/predict", body=chunks, headers={"Content-Type": "image/png"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and "limit" in json.loads(response.read())["error"]


def test_requests_are_served_concurrently_while_a_slow_client_sends(url: str) -> None:
    where = urlsplit(url)
    slow = socket.create_connection((where.hostname, where.port))
    slow.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
    )
    slow.sendall(b"\x89PNG")  # ... and the rest never comes
    images = [png(Image.fromarray(np.roll(np.eye(28, dtype=np.uint8), k, axis=1) * 255)) for k in range(8)]
    one_by_one = [request(url, "/predict", image)[1] for image in images]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda k: request(url, "/predict", images[k % 8])[1], range(32)))
    assert time.monotonic() - started < 10
    assert together == [one_by_one[k % 8] for k in range(32)]
    slow.close()
