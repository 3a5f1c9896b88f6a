"""Benchmark: a served convnet answering concurrent clients: throughput, median and 95th-percentile latency.

    MNIST_DATA_DIR=... python -m benchmarks.serve [--requests 1000] [--clients 8] [--size 28] [--ckpt PATH]

Without --ckpt it first trains the default convnet for 100 steps (its accuracy is beside the point, its size
is the default's). The server runs as users start it (`python -m mnist_lightning.serve`, a process of its
own); the clients are threads of this process, each on its own keep-alive connection, each request one
MNIST test digit as a PNG (--size 28: as it is; larger: scaled up, as a photo would be).
"""

from __future__ import annotations

import argparse
import http.client
import io
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from PIL import Image

from benchmarks.common import compose_cfg, data_root, emit, machine, table
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.train import train

WARM_UP = 50  # requests before the clock starts: first calls pay for lazy set-up


def quick_convnet(folder: Path) -> Path:
    """The default convnet after 100 training steps: best.ckpt in `folder`."""
    overrides = ["trainer.max_epochs=1", "trainer.limit_train_batches=100", "trainer.limit_val_batches=2",
                 "test=false", "report=false", "logger=none", "trainer.accelerator=cpu"]  # fmt: skip
    train(compose_cfg(overrides, str(folder)))
    return folder / "checkpoints" / "best.ckpt"


def digit_png(size: int) -> bytes:
    """The first MNIST test digit as a PNG file, size x size pixels."""
    _, test = load_idx_dir(data_root())
    image = Image.fromarray(test.images[0].numpy())
    if size != 28:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def start_server(ckpt: Path, folder: Path) -> tuple[subprocess.Popen[str], int]:
    """`python -m mnist_lightning.serve` on a free port; the process and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_lightning.serve", f"ckpt_path={ckpt}", "port=0",
         f"hydra.run.dir={folder}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if found := re.search(r"http://[^ ]+:(\d+)/", line):
            return proc, int(found[1])
    raise SystemExit(f"the server ended without serving (exit status {proc.wait()})")


def run(port: int, body: bytes, requests: int, clients: int) -> list[float]:
    """Latency in seconds of each of `requests` POSTs, sent by `clients` threads at once."""
    left, lock, latencies = iter(range(requests)), threading.Lock(), []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if next(left, None) is None:
                    return
            start = time.perf_counter()
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
            with lock:
                latencies.append(time.perf_counter() - start)

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return latencies


def main() -> None:
    """Train (or take) a convnet, serve it, send the requests, print a JSON line and a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--size", type=int, default=28, help="the PNG's side in pixels")
    parser.add_argument("--ckpt", type=Path, help="a checkpoint to serve (default: a quick convnet)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.ckpt or quick_convnet(Path(tmp) / "train")
        body = digit_png(args.size)
        proc, port = start_server(ckpt, Path(tmp) / "serve")
        try:
            run(port, body, WARM_UP, 1)
            start = time.perf_counter()
            latencies = sorted(run(port, body, args.requests, args.clients))
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    ms = [1000 * t for t in latencies]
    record = emit({
        "benchmark": "serve", "date": date.today().isoformat(), **machine(), "requests": args.requests,
        "clients": args.clients, "png_bytes": len(body), "size": args.size, "wall_s": round(wall, 2),
        "throughput_rps": round(args.requests / wall, 1), "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(statistics.quantiles(ms, n=20)[-1], 1), "max_ms": round(ms[-1], 1),
    })  # fmt: skip
    print(table([record], ["size", "requests", "clients", "throughput_rps", "median_ms", "p95_ms", "max_ms"]))


if __name__ == "__main__":
    main()
