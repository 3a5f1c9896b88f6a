"""Plausible mistakes, run through the command-line entry points: one `error:` line each, or a clear result.

Every command runs as its console script does (`main()` with sys.argv set), all of them in one
interpreter started by tests/cli_driver.py, so the imports are paid once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONF_DIR, FAST, make_tiny_mnist
from hydra import compose, initialize_config_dir
from PIL import Image

from mnist_lightning import metric_keys as M
from mnist_lightning.data.folder import write_image_folder
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.train import train

DRIVER = Path(__file__).with_name("cli_driver.py")
QUICK = ["data.val_size=40", *FAST]

# (name, the command after its module, the exit status, what the last stderr line must contain)
MISTAKES = [
    ("negative seed", ["T", "seed=-1"], "seed=-1"),
    ("ema above 1", ["T", "ema=1.5"], "ema=1.5"),
    ("unknown precision", ["T", "trainer.precision=fp8"], "trainer: Precision 'fp8' is invalid"),
    ("endless run", ["T", "trainer.max_epochs=-1"], "trainer.max_epochs=-1"),
    ("no epochs", ["T", "trainer.max_epochs=0"], "trainer.max_epochs=0"),
    ("no batches", ["T", "trainer.limit_train_batches=0"], "trainer.limit_train_batches=0"),
    ("zero learning rate", ["T", "optimizer.lr=0"], "optimizer.lr=0"),
    ("unknown report figure", ["T", "report_figures=[curvs]"], "report_figures=[curvs]: no figure"),
    ("zero eval batch", ["T", "data.eval_batch_size=0"], "data.eval_batch_size=0"),
    ("zero threads", ["T", "threads=0"], "threads=0"),
    ("dropout above 1", ["T", "model.net.dropout=1.5"], "model.net: dropout probability"),
    ("no devices", ["T", "trainer.devices=0"], "trainer: `Trainer(devices=0)`"),
    ("scheduler value", ["T", "scheduler.pct_start=2"], "scheduler: Expected float between 0 and 1"),
    ("augment value", ["T", "data/augment=affine", "data.augment.degrees=abc"], "data.augment.degrees=abc"),
    ("shared settings as an option", ["data=_base"], "data=_base"),
    ("run dir in /proc", ["T", "hydra.run.dir=/proc/nope"], "hydra.run.dir=/proc/nope"),
    ("run dir is a file", ["T", "hydra.run.dir=FILE"], "hydra.run.dir="),
    ("text file as checkpoint", ["E", "ckpt_path=NOTES"], "notes.ckpt: not a PyTorch checkpoint"),
    ("ONNX file as checkpoint", ["E", "ckpt_path=ONNX"], "model.onnx: not a PyTorch checkpoint"),
    ("mistyped callback", ["T", "callbacks=[early_stopping,lr_monitr]"], "available: early_stopping, lr_mon"),
    (
        "callback setting",
        ["T", "callbacks=early_stopping", "callbacks.early_stopping.patiance=1"],
        "patiance",
    ),
    ("callback class", ["T", "+callbacks.mine._target_=nowhere.Mine"], "callbacks.mine: "),
    (
        "early stopping on nothing",
        ["T", "callbacks=early_stopping", "callbacks.early_stopping.monitor=val/acc2"],
        "callbacks.early_stopping.monitor=val/acc2: no metric of that name",
    ),
    ("mistyped logger", ["T", "logger=mlfow"], "available: csv, many, mlflow, none, tensorboard, wandb"),
    ("mistyped debug preset", ["T", "debug=fats"], "available: anomaly, fast"),
    (
        "sweep syntax",
        ["T", "hparams_search=optuna", "optimizer.lr=tag(log, interval(1e-4))", "-m"],
        "optimizer.lr=tag(log, interval(1e-4)): TypeError while evaluating 'interval(1e-4)'",
    ),
    (
        "search range",
        ["T", "hparams_search=optuna", "optimizer.lr=tag(log, interval(0, 0.1))", "-m"],
        "optimizer.lr=tag(log, interval(0, 0.1)): `low > 0` must hold for `log=True`",
    ),
    ("serve port out of range", ["S", "ckpt_path=CKPT", "port=70000"], "port=70000: a port is 0-65535"),
    ("serve no uploads", ["S", "ckpt_path=CKPT", "max_upload_mb=0"], "max_upload_mb=0.0: must be above 0"),
    ("serve text file", ["S", "ckpt_path=NOTES"], "notes.ckpt: not a PyTorch checkpoint"),
    ("mistyped sweep folder", ["R", "SWEEP/nope"], "nope: no such sweep directory"),
    ("folder with no jobs", ["R", "EMPTY"], "no job folders"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny data, a finished run, a test-only image folder, foreign files, and the driver's results."""
    tmp = tmp_path_factory.mktemp("mistakes")
    tiny = make_tiny_mnist(tmp / "tiny")
    run = tmp / "finished"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        train(compose("config", overrides=[f"run_dir={run}", "data=idx", f"data.root={tiny}", *QUICK]))
    _, test = load_idx_dir(tiny)
    write_image_folder(test, tmp / "only_test" / "test")  # no train/ folder: evaluate needs none
    photos = tmp / "photos"
    photos.mkdir()
    for i, suffix in enumerate((".webp", ".tif")):
        Image.fromarray(test.images[i].numpy()).save(photos / f"digit{i}{suffix}")
    (photos / "notes.txt").write_text("not an image")
    (tmp / "notes.ckpt").write_text("not a checkpoint")
    (tmp / "model.onnx").write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x032.0")  # an ONNX protobuf's opening
    (tmp / "file").write_text("in the way")
    (tmp / "empty").mkdir()
    return {"tmp": tmp, "tiny": tiny, "run": run, "photos": photos}


def _expand(argv: list[str], w: dict[str, Path]) -> list[str]:
    tmp, ckpt = w["tmp"], w["run"] / "checkpoints" / "best.ckpt"
    heads = {
        "T": ["mnist_lightning", "data=idx", f"data.root={w['tiny']}", *QUICK],
        "E": ["mnist_lightning.evaluate", "accelerator=cpu"],
        "R": ["mnist_lightning.sweep_report"],
        "S": ["mnist_lightning.serve", "port=0"],  # port 0: a mistake never meets a port in use first
    }
    words = {"FILE": str(tmp / "file"), "NOTES": str(tmp / "notes.ckpt"), "ONNX": str(tmp / "model.onnx"),
             "SWEEP": str(tmp / "sweeps"), "EMPTY": str(tmp / "empty"), "CKPT": str(ckpt)}  # fmt: skip
    if argv[0] in heads:
        out = [*heads[argv[0]], *argv[1:]]
    else:  # a data mistake: the rest of the command as a user would type it
        out = ["mnist_lightning", f"data.root={w['tiny']}", *argv]
    for word, value in words.items():
        out = [arg.replace(word, value) for arg in out]
    return out


@pytest.fixture(scope="module")
def outcomes(world: dict[str, Path]) -> dict[str, dict]:
    """Every mistake, and the commands that must now work, run once through the driver."""
    tmp, ckpt = world["tmp"], world["run"] / "checkpoints" / "best.ckpt"
    commands = {name: _expand(argv, world) for name, argv, _ in MISTAKES}
    commands["double precision"] = _expand(["T", "trainer.precision=64"], world)
    commands["webp and tif"] = ["mnist_lightning.predict", f"ckpt_path={ckpt}", f"inputs={world['photos']}",
                                f"output={tmp / 'predictions.csv'}"]  # fmt: skip
    commands["resume finished"] = ["mnist_lightning", f"resume={world['run']}"]
    commands["evaluate test only"] = ["mnist_lightning.evaluate", f"ckpt_path={ckpt}", "accelerator=cpu",
                                      "data=folder", f"data.root={tmp / 'only_test'}", "report=false",
                                      f"data.cache_dir={tmp / 'cache'}"]  # fmt: skip
    commands["train help"] = ["mnist_lightning", "--help"]
    commands["evaluate help"] = ["mnist_lightning.evaluate", "--help"]
    names = list(commands)
    (tmp / "in.json").write_text(json.dumps([commands[n] for n in names]))
    world["metrics_before"] = (world["run"] / M.METRICS_FILE).read_bytes()  # type: ignore[assignment]
    proc = subprocess.run([sys.executable, str(DRIVER), str(tmp / "in.json"), str(tmp / "out.json")],
                          cwd=tmp, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(zip(names, json.loads((tmp / "out.json").read_text()), strict=True))


@pytest.mark.parametrize(("name", "argv", "message"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_naming_it(name: str, argv: list[str], message: str, outcomes: dict) -> None:
    result = outcomes[name]
    stderr = result["stderr"]
    assert result["status"] == 2, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert "weights_only=False" not in stderr  # never the advice to load a file that could run code


def test_what_finished_doing_nothing_now_works_or_says_so(outcomes: dict, world: dict) -> None:
    for name in ("double precision", "webp and tif", "resume finished", "evaluate test only"):
        assert outcomes[name]["status"] == 0, (name, outcomes[name]["stderr"][-2000:])
        assert "Traceback" not in outcomes[name]["output"], name
    rows = (world["tmp"] / "predictions.csv").read_text().splitlines()
    assert [r.split(",")[0].rsplit("/", 1)[-1] for r in rows[1:]] == ["digit0.webp", "digit1.tif"]
    assert "Skipped 1 file that is not an image: notes.txt" in outcomes["webp and tif"]["output"]
    assert "has already ended" in outcomes["resume finished"]["output"]
    assert (world["run"] / M.METRICS_FILE).read_bytes() == world["metrics_before"]  # nothing changed
    assert not (world["tmp"] / "sweeps").exists()  # a mistyped sweep folder is not created
    assert list((world["tmp"] / "empty").iterdir()) == []  # and an empty one gets no report files


def test_help_lists_the_groups_each_command_uses(outcomes: dict) -> None:
    def groups(name: str) -> set[str]:
        text = outcomes[name]["output"].split("== Configuration groups ==")[1].split("== Config ==")[0]
        return {line.split(":")[0] for line in text.splitlines() if ": " in line and "(" not in line}

    assert {"callbacks", "logger", "debug", "model", "data/augment"} <= groups("train help")
    assert groups("evaluate help") == {"data", "data/augment", "logger"}  # no model, callbacks or debug
