"""Learning-rate schedules that torch does not ship."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from mnist_lightning.errors import ConfigError


class PiecewiseConstantLR(LambdaLR):
    """The base LR times `factors[i]` from `milestones[i-1]` on: len(factors) == len(milestones) + 1."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        factors: Sequence[float],
        last_epoch: int = -1,
    ) -> None:
        milestones, factors = list(milestones), list(factors)
        if len(factors) != len(milestones) + 1 or milestones != sorted(milestones):
            raise ConfigError(
                f"scheduler: milestones {milestones} must be increasing and factors {factors} "
                "must have one more entry (the factor before the first milestone)"
            )
        self.milestones, self.factors = milestones, factors
        super().__init__(optimizer, self.factor, last_epoch=last_epoch)

    def factor(self, step: int) -> float:
        """The LR multiplier at `step` (an epoch or an optimizer step, per the scheduler interval)."""
        return self.factors[bisect.bisect_right(self.milestones, step)]
