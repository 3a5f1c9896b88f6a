"""DDP through Lightning, safe under Hydra: the ranks Lightning starts rerun *this job*, in its directory.

Lightning starts ranks 1..N-1 by rerunning the command line. Under a Hydra multirun that command
holds `-m` and the whole sweep, so each extra rank would start a sweep of its own: stray sweep
directories, jobs that hang waiting for peers, a second job killed. Here they rerun only this
job's overrides as a single run, inside this job's directory, without writing its `.hydra/`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from mnist_lightning.errors import ConfigError


def job_command(rank: int) -> list[str]:
    """`python -m mnist_lightning <this job's overrides>` pinned to this job's directory, for one rank."""
    if not HydraConfig.initialized():
        raise ConfigError(
            "trainer=ddp: Lightning starts the other ranks by rerunning the command, so start DDP "
            "with `python -m mnist_lightning trainer=ddp ...` or under torchrun/srun"
        )
    hydra = HydraConfig.get()
    run_dir = hydra.runtime.output_dir.replace("\\", "\\\\").replace('"', '\\"')
    return [
        sys.executable, "-m", "mnist_lightning", *hydra.overrides.task,
        f'hydra.run.dir="{run_dir}"', "hydra.output_subdir=null", f"hydra.job.name=train_rank{rank}",
    ]  # fmt: skip


# What the launcher puts in this process's environment for its ranks; left there, the next job of a
# multirun would believe it is a rank started from outside and wait for peers that never come.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher for ranks on this node, each started as `job_command(local_rank)`."""

    def _call_children_scripts(self) -> None:
        self._check_can_spawn_children()
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        for local_rank in range(1, self.num_processes):
            child_env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            command = job_command(env.node_rank() * self.num_processes + local_rank)
            self.procs.append(subprocess.Popen(command, env=child_env, cwd=get_original_cwd()))


class DDP(DDPStrategy):
    """Lightning's DDPStrategy (gloo on CPU, nccl on GPU by default) with the Hydra-aware launcher."""

    def _configure_launcher(self) -> None:
        if self._start_method == "popen":
            assert self.cluster_environment is not None
            self._launcher = HydraJobLauncher(self.cluster_environment, self.num_processes, self.num_nodes)
        else:
            super()._configure_launcher()


def release(trainer: L.Trainer, timeout: float = 120) -> None:
    """After a job's fit and test: wait for the ranks this process started, then undo the launch.

    The next job of a multirun in this process then starts its own process group on a fresh port.
    """
    launcher = getattr(trainer.strategy, "launcher", None)
    if not isinstance(launcher, HydraJobLauncher) or not launcher.procs:
        return
    for proc in launcher.procs:
        proc.wait(timeout=timeout)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for name in LAUNCH_VARIABLES:
        os.environ.pop(name, None)
