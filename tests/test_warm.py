"""Warm starts (mnist_lightning/warm): a command run by the warm process behaves as a fresh process would:
its folder, environment, streams, exit status and signals, and a killed command takes its run with it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAST, children, make_tiny_mnist

from mnist_lightning import metric_keys as M
from mnist_lightning.warm import place

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm starts need Linux")
READY_S = 120  # a warm process imports torch and Lightning first: seconds on a busy 2-core machine


def _env(runtime: Path, **extra: str) -> dict[str, str]:
    """This test's own runtime folder, so that its warm processes are its own."""
    env = {k: v for k, v in os.environ.items() if k not in (place.SWITCH, place.IDLE)}
    return {**env, "XDG_RUNTIME_DIR": str(runtime), **extra}


def _folder(runtime: Path) -> Path:
    return runtime / f"mnist-lightning-warm-{os.getuid()}"


def _cli(
    args: list[str], cwd: Path, env: dict[str, str], **kwargs: object
) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python -m mnist_lightning` there; the CPU seconds the command's own process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, after.ru_utime - before.ru_utime


def _wait(condition: Callable[[], bool], seconds: float = READY_S) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _server_pid(runtime: Path) -> int:
    (lock,) = _folder(runtime).glob("*.lock")
    return int(lock.read_text())


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """A runtime folder with a ready warm process, its environment, and tiny MNIST."""
    runtime = Path(tempfile.mkdtemp(prefix="warm"))  # short: a socket's path has at most 107 bytes
    tiny = make_tiny_mnist(tmp_path_factory.mktemp("tiny"))
    env = _env(runtime)
    proc, _ = _cli(["--help"], runtime, env)  # cold: it starts the warm process as it ends
    assert proc.returncode == 0, proc.stderr
    _wait(lambda: any(_folder(runtime).glob("*.sock")))
    yield runtime, env, tiny
    subprocess.run([sys.executable, "-m", "mnist_lightning.warm", "stop"], env=env, check=True)
    _wait(lambda: not any(_folder(runtime).glob("*.sock")), 30)
    shutil.rmtree(runtime)


def test_a_warm_run_is_a_fresh_run_of_the_command(
    warm: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    _, env, tiny = warm
    (tmp_path / "data").symlink_to(tiny)  # a path relative to the command's own folder
    proc, cpu = _cli([*FAST, "data=idx", "data.root=data", "data.val_size=40", "run_dir=run"], tmp_path, env,
                     preexec_fn=lambda: os.umask(0o077))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert cpu < 1.0, f"the command imported torch itself ({cpu:.1f} s of CPU)"  # the warm process ran it
    metrics = json.loads((tmp_path / "run" / M.METRICS_FILE).read_text())
    assert metrics[M.STATUS] == M.OK and "Test accuracy" in proc.stdout + proc.stderr
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert modes and all(mode & 0o077 == 0 for mode in modes)  # the command's umask, not the warm one's


def test_exit_status_and_streams_come_back(warm: tuple[Path, dict[str, str], Path], tmp_path: Path) -> None:
    _, env, _ = warm
    typo, cpu = _cli(["optimizer=adamm"], tmp_path, env)
    cold, _ = _cli(["optimizer=adamm"], tmp_path, {**env, place.SWITCH: "0"})
    assert cpu < 1.0 and typo.returncode == cold.returncode == 2
    assert typo.stderr == cold.stderr and typo.stdout == cold.stdout  # the same one line, same stream
    helped, _ = _cli(["--help"], tmp_path, env)
    assert helped.returncode == 0 and "Configuration groups" in helped.stdout and not helped.stderr


def test_sigterm_reaches_the_run_and_sigkill_takes_it_down(
    warm: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    runtime, env, tiny = warm
    long = [*FAST, "data=idx", f"data.root={tiny}", "data.val_size=40", "trainer.max_epochs=1000",
            "trainer.limit_train_batches=1.0"]  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGKILL):
        run_dir = tmp_path / signum.name
        proc = subprocess.Popen(
            [sys.executable, "-m", "mnist_lightning", *long, f"run_dir={run_dir}", "last_checkpoint_every=1"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait(
            lambda run_dir=run_dir, p=proc: (
                (run_dir / "checkpoints" / "last.ckpt").exists() or p.poll() is not None
            )
        )
        assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        server = _server_pid(runtime)
        (command,) = children(server)
        held = [os.readlink(fd) for fd in Path(f"/proc/{command}/fd").iterdir()]
        assert not [path for path in held if path.endswith(".lock")]  # the warm process's lock is its own
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == (128 + signum if signum == signal.SIGTERM else -signum), stderr
        if signum == signal.SIGTERM:
            assert "the last checkpoint is kept" in stderr
        _wait(
            lambda command=command, server=server: command not in children(server),
            30,
        )


def test_a_parallel_sweep_ends_when_its_jobs_end(
    warm: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    # joblib's executor stops its threads from an exit hook of threading's own: a fork must run them
    _, env, tiny = warm
    sweep = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer.lr=-1,0.01", "seed=0"]
    proc, cpu = _cli([*sweep, *FAST, "data=idx", f"data.root={tiny}", "data.val_size=40",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path, env)  # fmt: skip
    assert cpu < 1.0 and proc.returncode == 1, proc.stderr[-2000:]  # one job failed: reported, exit 1
    assert (tmp_path / "sweep" / "report.md").is_file()


def test_torchrun_workers_run_where_torchrun_started_them(tmp_path: Path) -> None:
    env = _env(Path(tempfile.mkdtemp(prefix="warm")), TORCHELASTIC_RUN_ID="none")
    code = "from mnist_lightning.warm import place; print(place.enabled())"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
    shutil.rmtree(env["XDG_RUNTIME_DIR"])


def test_the_key_separates_environments_and_a_stop_or_idle_ends_the_process(tmp_path: Path) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="warm"))
    env = _env(runtime, **{place.IDLE: "15"})
    assert _cli(["--help"], tmp_path, env)[0].returncode == 0
    assert _cli(["--help"], tmp_path, {**env, "OMP_NUM_THREADS": "1"})[0].returncode == 0
    _wait(lambda: len(list(_folder(runtime).glob("*.sock"))) == 2)  # one per import-time environment
    _wait(lambda: not any(_folder(runtime).glob("*.sock")), 90)  # idle for 15 s: both ended
    locks = {p: p.stat().st_mtime_ns for p in _folder(runtime).glob("*.lock")}
    assert _cli(["--help"], tmp_path, {**env, place.SWITCH: "0"})[0].returncode == 0
    time.sleep(2)  # a warm process would have taken its lock by now
    assert {p: p.stat().st_mtime_ns for p in _folder(runtime).glob("*.lock")} == locks
    shutil.rmtree(runtime)


def test_a_folder_others_can_read_is_not_used(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    folder = _folder(runtime)
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, "-c", "from mnist_lightning.warm import place; print(place.runtime_dir())"],
        env=_env(runtime), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert proc.stdout.strip() == "None"
    long = tmp_path / ("x" * 120)  # no room for a socket's path: no warm start rather than a failure
    (long / folder.name).mkdir(parents=True, mode=0o700)
    proc = subprocess.run(
        [sys.executable, "-c", "from mnist_lightning.warm import place; print(place.runtime_dir())"],
        env=_env(long), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert proc.stdout.strip() == "None"
