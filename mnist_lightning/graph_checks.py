"""What `cuda_graphs=true` cannot capture, refused at start in one line (before any data is read).

The captured step is forward, loss, backward and one optimizer step on one device in fp32; anything
that would have to run between those, on another device, or change a value the graph baked in, is
refused here rather than silently trained differently. EMA works with it (it reads the weights
after each step), and so do every scheduler and evaluation, which stay outside the graph.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError

# Optimizers with a step that a graph can capture with a tensor lr: capturable Adam/AdamW, fused SGD.
CAPTURABLE = ("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD")
FP32 = ("32-true", "32", 32)  # autocast's weight cache is unsafe inside a capture
ONE_CYCLE = "torch.optim.lr_scheduler.OneCycleLR"
SWA = "StochasticWeightAveraging"  # its batch-norm epoch skips backward, which the graph cannot


def _refuse(setting: str, why: str, fix: str) -> ConfigError:
    return ConfigError(f"cuda_graphs=true with {setting}: {why}; {fix}, or set cuda_graphs=false")


def _trainer_refusals(trainer: DictConfig) -> ConfigError | None:
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    if trainer.get("strategy") is not None or str(devices) != "1" or nodes != 1:
        return _refuse(
            f"trainer.devices={devices}, trainer.num_nodes={nodes}",
            "DDP's gradient all-reduce cannot run inside the captured step",
            "train on one device (trainer=default trainer.devices=1)",
        )
    if trainer.get("precision", "32-true") not in FP32:
        return _refuse(
            f"trainer.precision={trainer.precision}", "the captured step runs in fp32 only", "use 32-true"
        )
    if (accumulate := trainer.get("accumulate_grad_batches", 1)) != 1:
        return _refuse(
            f"trainer.accumulate_grad_batches={accumulate}",
            "each captured step takes one optimizer step",
            "use a larger data.batch_size instead",
        )
    if trainer.get("gradient_clip_val"):
        return _refuse(
            f"trainer.gradient_clip_val={trainer.gradient_clip_val}",
            "Lightning clips between backward and the optimizer step, inside the captured step",
            "drop trainer.gradient_clip_val",
        )
    if trainer.get("detect_anomaly"):
        return _refuse("trainer.detect_anomaly=true", "anomaly mode cannot be captured", "drop debug=anomaly")
    return None


def _targets(node: Any) -> str:
    return str(node.get("_target_", "")) if isinstance(node, DictConfig) else ""


def check_cuda_graphs(cfg: DictConfig) -> None:
    """Refuse, in one line naming the key, what the captured training step cannot do."""
    if not cfg.get("cuda_graphs"):
        return
    if (refusal := _trainer_refusals(cfg.trainer)) is not None:
        raise refusal
    if cfg.get("compile"):
        raise _refuse("compile=true", "a compiled network is not captured again", "drop compile=true")
    optimizer = _targets(cfg.optimizer)
    if optimizer not in CAPTURABLE:
        raise _refuse(
            f"optimizer._target_={optimizer}",
            "only Adam, AdamW and SGD have a step the graph can capture with a scheduled lr",
            "use optimizer=adam, adamw or sgd",
        )
    scheduler = cfg.get("scheduler") or {}
    if (
        optimizer.endswith("SGD")
        and _targets(scheduler) == ONE_CYCLE
        and scheduler.get("cycle_momentum", True) is not False
    ):
        raise _refuse(
            "optimizer=sgd and scheduler=onecycle",
            "OneCycleLR cycles SGD's momentum, which the fused SGD step takes as a fixed number",
            "add +scheduler.cycle_momentum=false",
        )
    for name, node in (cfg.get("callbacks") or {}).items():
        if SWA in _targets(node):
            raise _refuse(
                f"callbacks.{name}", "SWA's batch-norm epoch runs forward without a step", "drop it"
            )
