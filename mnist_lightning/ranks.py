"""The ranks a job started: stop them after the job, check how they ended, explain a failed collective."""

from __future__ import annotations

import logging
import os
import subprocess

import lightning as L
import torch

from mnist_lightning.distributed import DEFAULT_TIMEOUT_S, LAUNCH_VARIABLES, HydraJobLauncher
from mnist_lightning.errors import DistributedError

log = logging.getLogger(__name__)

FAILED_GRACE_S = 5.0  # after a failed job: time the other ranks get to end by themselves before a kill
FINISHED_GRACE_S = 120.0  # after a finished job: time the other ranks get to finish their own test


def children(trainer: L.Trainer) -> list[subprocess.Popen]:
    """The rank processes this process started for the trainer (none unless it launched DDP)."""
    launcher = getattr(trainer.strategy, "launcher", None)
    return list(launcher.procs) if isinstance(launcher, HydraJobLauncher) else []


def _stop(trainer: L.Trainer, grace: float) -> dict[int, int]:
    """Wait up to `grace` seconds for each started rank, kill those still running; their exit codes."""
    launcher = trainer.strategy.launcher
    codes = {}
    for rank, proc in zip(launcher.ranks, launcher.procs, strict=True):  # type: ignore[union-attr]
        try:
            codes[rank] = proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("Rank %d still running %.0f s after this job ended: killed", rank, grace)
            proc.kill()
            codes[rank] = proc.wait()
    return codes


def release(trainer: L.Trainer, failed: bool) -> None:
    """After a job, finished or failed: stop the ranks it started, close the process group, clear the env.

    The next job of a multirun in this process then starts its own process group on a fresh port.
    A rank that failed while this one finished raises DistributedError.
    """
    if not children(trainer):
        return
    codes = _stop(trainer, FAILED_GRACE_S if failed else FINISHED_GRACE_S)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for name in LAUNCH_VARIABLES:
        os.environ.pop(name, None)
    bad = {rank: code for rank, code in codes.items() if code != 0}
    if bad and not failed:
        raise DistributedError(_exits(bad))


def _exits(codes: dict[int, int]) -> str:
    return "; ".join(
        f"rank {rank} exited with status {code} (see train_rank{rank}.log)" for rank, code in codes.items()
    )


def _exited(trainer: L.Trainer) -> dict[int, int]:
    """The started ranks that have already ended badly, with their exit codes."""
    launcher = trainer.strategy.launcher
    ended = {
        rank: proc.poll()
        for rank, proc in zip(getattr(launcher, "ranks", []), children(trainer), strict=True)
    }
    return {rank: code for rank, code in ended.items() if code not in (None, 0)}


def explain(err: BaseException, trainer: L.Trainer) -> DistributedError | None:
    """A one-line account of a failed collective: the ranks that ended, or the ranks that never came."""
    if trainer.world_size < 2 or not isinstance(err, RuntimeError):  # gloo and nccl raise RuntimeErrors
        return None
    me = f"rank {trainer.global_rank} of {trainer.world_size}"
    if exited := _exited(trainer):
        return DistributedError(f"{me} could not go on: {_exits(exited)}")
    if "timed out" not in str(err).lower():
        return None
    others = [str(rank) for rank in range(trainer.world_size) if rank != trainer.global_rank]
    who = f"rank {others[0]}" if len(others) == 1 else f"ranks {', '.join(others)}"
    timeout = getattr(trainer.strategy, "timeout_s", DEFAULT_TIMEOUT_S)
    return DistributedError(
        f"{me} waited {timeout:g} s (trainer.strategy.timeout_s) in a collective that {who} "
        "never joined; see train_rank<N>.log beside train.log for where they stopped"
    )
