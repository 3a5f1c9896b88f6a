"""`python -m mnist_lightning.serve` from the command line: its address, its warnings, its one-line errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CONF_DIR, MNIST_DIR, as_users_have_them, requires_mnist
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from serving import predicted, request, serving

from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.errors import ConfigError, DataError


def test_settings_that_cannot_work_are_one_line_errors(
    named_tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_lightning.serve import listen, make_server

    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("serve", [f"ckpt_path={named_tiny_ckpt}", f"port={port}"])
        with pytest.raises(ConfigError, match=rf"port={port}: cannot listen there .*port=0"):
            make_server(cfg)
        taken.close()
        with pytest.raises(DataError, match=r"ckpt_path=.*none.ckpt: no such file"):
            make_server(hydra_compose("serve", ["ckpt_path=none.ckpt", "port=0"]))
        with pytest.raises(ConfigError, match=r"max_upload_mb=0.0: must be above 0"):
            make_server(hydra_compose("serve", [f"ckpt_path={named_tiny_ckpt}", "max_upload_mb=0"]))
        monkeypatch.setitem(sys.modules, "uvicorn", None)  # the serve extra not installed
        with pytest.raises(ConfigError, match=r"uvicorn package; pip install 'mnist-lightning\[serve\]'"):
            make_server(cfg)


def test_cli_prints_its_address_warns_when_open_to_the_network_logs_and_stops(
    named_tiny_ckpt: Path, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_lightning.serve", f"ckpt_path={named_tiny_ckpt}", "host=0.0.0.0",
         "port=0", "access_log=true", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not any(line.startswith("Serving ") for line in lines):
            lines.append(proc.stdout.readline())
            assert lines[-1], "".join(lines)  # ended without serving
        port = int(re.search(r"http://[^ ]+:(\d+)/", lines[-1])[1])  # type: ignore[index]
        assert request(f"http://127.0.0.1:{port}", "/health") == (200, {"status": "ok"})
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop, no traceback
        proc.wait(timeout=30)
    out = proc.stdout.read()  # not communicate(): it would skip what readline() has buffered
    assert f"http://0.0.0.0:{port}/" in lines[-1]
    assert "host=0.0.0.0: listening beyond this machine" in "".join(lines) + out
    assert proc.returncode == 0 and "Stopped by SIGINT" in out and "Traceback" not in out, out
    assert '"GET /health HTTP/1.1" 200' in out  # access_log=true

    typo = subprocess.run(
        [sys.executable, "-m", "mnist_lightning.serve", f"ckpt_path={tmp_path / 'none.ckpt'}", "prot=80"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    errors = [line for line in typo.stderr.splitlines() if line.startswith("error:")]
    assert typo.returncode == 2 and len(errors) == 1 and "prot" in errors[0], typo.stderr


@requires_mnist
def test_rendered_digits_get_predicts_answers(mnist_ckpt: Path, tmp_path: Path) -> None:
    _, test = load_idx_dir(MNIST_DIR)
    images, labels = test.images[:60].numpy(), test.labels[:60].numpy()
    (tmp_path / "digits").mkdir()
    for i, image in enumerate(images):
        as_users_have_them(image, i).save(tmp_path / "digits" / f"{i:03d}.{'jpg' if i % 2 else 'png'}")
    expected = [row["class"] for row in predicted(mnist_ckpt, tmp_path / "digits")]
    with serving(mnist_ckpt) as base:  # the default limits: photos of a few hundred kB pass
        files = sorted((tmp_path / "digits").iterdir())
        served = [request(base, "/predict", f.read_bytes(), "image/jpeg")[1]["class"] for f in files]
    assert served == expected
    assert np.mean(np.array(served) == labels) >= 0.9
