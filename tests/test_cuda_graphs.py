"""cuda_graphs=true: the graphed step's code on a CPU (static buffers, no capture) against Lightning's eager
step, the learning rate it reads under every shipped scheduler, the CPU fallback and the refusals.
The capture itself needs a CUDA GPU: tests/test_gpu.py."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from conftest import group_options
from omegaconf import DictConfig
from torch import Tensor, nn

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.graphed import STATIC
from mnist_lightning.losses import CrossEntropy
from mnist_lightning.module import Classifier
from mnist_lightning.static_step import StaticStep, scheduled
from mnist_lightning.train import prepare, train
from mnist_lightning.trainer import build_trainer


class Record(L.Callback):
    """Each step's loss, and the lr and beta1 that step used: the optimizer's floats as the step
    starts (eager), or the static step's device buffers that the step read (graphed). Lightning
    steps a step-interval scheduler before on_train_batch_end."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.hypers: list[tuple[float, float]] = []
        self.before: tuple[float, float] = (0.0, 0.0)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        lr, beta1 = scheduled(trainer.optimizers[0])[0]
        self.before = (_f32(lr), _f32(beta1 or 0.0))  # what a float32 buffer would hold

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, *args: Any) -> None:
        self.losses.append(float(outputs["loss"]))
        static = pl_module.static_step
        graphed = static is not None
        self.hypers.append((float(static.lr[0, 0]), float(static.beta1[0, 0])) if graphed else self.before)


def _f32(value: float) -> float:
    return float(torch.tensor(value, dtype=torch.float32))


def _tiny(root: Path, *extra: str) -> tuple[str, ...]:
    # 200 training images in batches of 32: six full batches and a last one of 8 (run eagerly)
    return ("data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=32",
            "trainer.limit_train_batches=null", "logger=none", "threads=1", *extra)  # fmt: skip


def _fit(cfg: DictConfig, graphed: bool) -> tuple[Classifier, L.Trainer, Record]:
    datamodule, model = prepare(cfg)
    if graphed:
        model.step_mode = STATIC  # the graph's code, called directly: what a CUDA device captures
    trainer = build_trainer(cfg, Path(cfg.run_dir))
    record = Record()
    trainer.callbacks.append(record)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer, record


def _both(compose: Callable[..., DictConfig], *overrides: str) -> list[tuple[Classifier, L.Trainer, Record]]:
    threads = torch.get_num_threads()
    runs = [_fit(compose(*overrides, f"run_dir={compose().run_dir}_{g}"), graphed=g) for g in (False, True)]
    torch.set_num_threads(threads)
    return runs


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_static_step_trains_as_the_eager_step(
    optimizer: str, compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    extra = ("trainer.max_epochs=2", "ema=0.9") if optimizer == "adam" else ()  # EMA reads the weights
    (eager, et, er), (graphed, gt, gr) = _both(compose, *_tiny(tiny_mnist, f"optimizer={optimizer}", *extra))
    assert graphed.static_step is not None and eager.static_step is None
    assert gt.global_step == et.global_step == 7 * (2 if extra else 1)  # the last, smaller batch included
    torch.testing.assert_close(torch.tensor(gr.losses), torch.tensor(er.losses), rtol=1e-5, atol=1e-6)
    for p, q in zip(graphed.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    for key in (M.TRAIN_LOSS, M.TRAIN_ACC, M.VAL_LOSS, M.VAL_ACC):
        got, want = gt.callback_metrics[key].float(), et.callback_metrics[key]
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# Each schedule shortened so that it changes the lr within three epochs of 7 steps.
SHORT = {
    "multistep": ("scheduler.milestones=[1,2]",),
    "piecewise": ("scheduler.milestones=[1,2]", "scheduler.factors=[1.0,0.5,0.1]"),
    "plateau": ("scheduler.patience=0",),
    "step": ("scheduler.step_size=1",),
    "cosine": ("scheduler.warmup=3",),  # with SequentialLR's linear warm-up in front
}


@pytest.mark.parametrize("scheduler", group_options("scheduler"))
def test_tensor_lr_follows_every_shipped_scheduler(
    scheduler: str, compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    extra = (f"scheduler={scheduler}", *SHORT.get(scheduler, ()), "trainer.max_epochs=3")
    (_, _, eager), (_, _, graphed) = _both(compose, *_tiny(tiny_mnist, *extra))
    assert len(graphed.hypers) == 21
    assert graphed.hypers == eager.hypers  # exactly: the float the scheduler set, as float32
    if scheduler not in ("none", "plateau"):
        assert len({lr for lr, _ in graphed.hypers}) > 1
    if scheduler == "onecycle":
        assert len({beta1 for _, beta1 in graphed.hypers}) > 1  # OneCycleLR cycles Adam's beta1 too


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


def test_k_steps_per_call_equal_k_single_steps() -> None:
    # The structure for several optimizer steps per graph: K=2 over 2B samples is two steps of B.
    torch.manual_seed(1)
    x, y = torch.randn(40, 1, 4, 4), torch.randint(0, 3, (40,))  # two calls of 2x8, then 8 left over
    results = []
    for steps in (1, 2):
        net = _net()
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        size = 8 * steps
        step = StaticStep(net, CrossEntropy(), optimizer, (x[:size], y[:size]), steps=steps)
        losses: list[Tensor] = []
        for start in range(0, 40, size):
            batch = (x[start : start + size], y[start : start + size])
            step.feed([scheduled(optimizer)] * steps)
            losses += list((step(batch) if step.fits(batch) else step.eager(batch)).clone())
        weights = [p.detach().clone() for p in net.parameters()]
        results.append((torch.stack(losses), weights, step.take_sums()))
    (l1, w1, s1), (l2, w2, s2) = results
    torch.testing.assert_close(l2, l1)
    torch.testing.assert_close(w2, w1)
    torch.testing.assert_close(s2, s1)


def test_a_cpu_run_ignores_cuda_graphs_in_one_line(
    compose: Callable[..., DictConfig], tiny_mnist: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mnist_lightning.graphed")
    on = train(compose(*_tiny(tiny_mnist, "cuda_graphs=true")))
    lines = [r.getMessage() for r in caplog.records if "cuda_graphs" in r.getMessage()]
    assert lines == ["cuda_graphs=true: no CUDA device in this run (cpu), so its steps run eagerly"]
    off = train(compose(*_tiny(tiny_mnist), "run_dir=" + str(tiny_mnist.parent / "off")))
    assert on[M.TEST_ACC] == off[M.TEST_ACC] and on[M.TEST_LOSS] == off[M.TEST_LOSS]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (("trainer=ddp",), "trainer.devices=2"),
        (("trainer.precision=bf16-mixed",), "trainer.precision=bf16-mixed"),
        (("+trainer.accumulate_grad_batches=2",), "trainer.accumulate_grad_batches=2"),
        (("+trainer.gradient_clip_val=1.0",), "trainer.gradient_clip_val=1.0"),
        (("compile=true",), "compile=true"),
        (("optimizer=sgd",), "+scheduler.cycle_momentum=false"),
        (("optimizer._target_=torch.optim.RMSprop",), "optimizer._target_=torch.optim.RMSprop"),
        (("callbacks=swa",), "callbacks.swa"),
        (("+trainer.detect_anomaly=true",), "trainer.detect_anomaly=true"),
    ],
)
def test_what_a_graph_cannot_capture_is_refused_in_one_line(
    overrides: tuple[str, ...], named: str, compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as err:
        train(compose("cuda_graphs=true", *overrides, f"data.root={tmp_path / 'never_read'}"))
    message = str(err.value)
    assert "\n" not in message and named in message and message.endswith("or set cuda_graphs=false")


def test_fast_gpu_turns_cuda_graphs_on_and_passes_the_checks(compose: Callable[..., DictConfig]) -> None:
    from mnist_lightning.checks import check_run

    cfg = compose("experiment=fast_gpu", "trainer.accelerator=cpu", fast=False)
    assert cfg.cuda_graphs is True
    check_run(cfg)
    check_run(compose("experiment=fast_gpu", "trainer.accelerator=cpu", "ema=0.999", fast=False))
    assert compose().cuda_graphs is False  # off by default


class KeepMidEpoch(L.Callback):
    """Copies last.ckpt aside as the fourth step starts: then it holds the state after step 3."""

    def __init__(self, to: Path) -> None:
        self.to = to

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == 3:
            shutil.copy(Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt", self.to)


def test_a_static_run_resumed_mid_epoch_keeps_its_epoch_sums(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    base = _tiny(tiny_mnist, "last_checkpoint_every=3", "scheduler=cosine")
    cfg = compose(*base, f"run_dir={tmp_path / 'whole'}")
    datamodule, model = prepare(cfg)
    model.step_mode = STATIC
    whole = build_trainer(cfg, Path(cfg.run_dir))
    whole.callbacks.append(KeepMidEpoch(tmp_path / "mid.ckpt"))
    whole.fit(model, datamodule=datamodule)
    cfg = compose(*base, f"run_dir={tmp_path / 'rest'}")
    datamodule, model = prepare(cfg)
    model.step_mode = STATIC
    rest = build_trainer(cfg, Path(cfg.run_dir))
    rest.fit(model, datamodule=datamodule, ckpt_path=tmp_path / "mid.ckpt", weights_only=True)
    assert rest.global_step == whole.global_step == 7
    for key in (M.TRAIN_LOSS, M.TRAIN_ACC):  # over all 7 batches, not only the 4 after the resume
        torch.testing.assert_close(rest.callback_metrics[key], whole.callback_metrics[key])
