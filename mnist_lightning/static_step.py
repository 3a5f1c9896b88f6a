"""The training step on static buffers: what a CUDA graph captures once and replays, and a CPU calls directly.

One call runs `steps` (K) optimizer steps over a batch of K*B samples: forward, loss, backward,
optimizer step and the epoch's loss/accuracy sums, all as device ops with no host sync, so that
`torch.cuda.graph` can capture them. Each step reads its learning rate (and Adam's beta1, which
OneCycleLR cycles) from a device buffer that `feed` fills from the floats the scheduler keeps in
the optimizer: the schedule stays the scheduler's, and the graph reads whatever it was set to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

WARMUP = 3  # eager steps on a side stream before the capture, as PyTorch's CUDA-graph docs ask
Hyper = tuple[float, float | None]  # (lr, beta1 or None) of one param group for one step


def scheduled(optimizer: torch.optim.Optimizer) -> list[Hyper]:
    """Each param group's current (lr, beta1): the values a scheduler may change from step to step."""
    return [(g["lr"], g["betas"][0] if "betas" in g else None) for g in optimizer.param_groups]


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Switch an optimizer to the step that a CUDA graph can capture, with tensor lr and beta1.

    Adam and AdamW: `capturable=True` keeps the step count on the device. SGD has no such flag; its
    fused kernel reads a tensor lr on the device. A step count loaded from a checkpoint is moved there.
    """
    for group in optimizer.param_groups:
        key = "capturable" if "betas" in group else "fused"
        group[key] = True
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if torch.is_tensor(state.get("step")):
                state["step"] = state["step"].to(p.device, torch.float32)


class StaticStep:
    """K optimizer steps of `forward` and `loss_fn` over static (K*B, C, H, W) and (K*B,) buffers.

    `capture=False` (a CPU) calls the steps directly; `capture=True` runs the first WARMUP calls
    eagerly on a side stream, captures the next one in a CUDA graph and replays it from then on.
    Every call is a real training step: none is spent on warm-up or capture alone.
    """

    def __init__(
        self,
        forward: Callable[[Tensor], Tensor],
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        optimizer: torch.optim.Optimizer,
        batch: tuple[Tensor, Tensor],
        steps: int = 1,
        capture: bool = False,
    ) -> None:
        x, y = batch  # (K*B, C, H, W), (K*B,): the shape every later call must have to use the buffers
        if len(y) % steps:
            raise ValueError(f"a batch of {len(y)} samples does not split into {steps} equal steps")
        self.forward, self.loss_fn, self.optimizer = forward, loss_fn, optimizer
        self.steps, self.size, self.capture = steps, len(y) // steps, capture
        self.x, self.y = torch.empty_like(x), torch.empty_like(y)
        device, groups = y.device, len(optimizer.param_groups)
        self.lr = torch.zeros(steps, groups, device=device)  # (K, G): each step's learning rate
        self.beta1 = torch.zeros(steps, groups, device=device)  # (K, G): Adam's beta1, if it has one
        self.losses = torch.zeros(steps, device=device)  # (K,): each step's mean loss
        # (4,) the epoch so far: summed batch losses, batches, correct predictions, samples (float64
        # counts exactly). train/loss is the mean over batches, as the eager path's MeanMetric gives it.
        self.sums = torch.zeros(4, dtype=torch.float64, device=device)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def fits(self, batch: tuple[Tensor, Tensor]) -> bool:
        """Whether `batch` has the buffers' shape (a last, smaller batch does not)."""
        return batch[0].shape == self.x.shape and batch[1].shape == self.y.shape

    def feed(self, hypers: Sequence[Sequence[Hyper]]) -> None:
        """Set each step's lr and beta1 (hypers[k][g] for step k, group g): device fills, no sync."""
        for k, groups in enumerate(hypers):
            for g, (lr, beta1) in enumerate(groups):
                self.lr[k, g].fill_(lr)
                if beta1 is not None:
                    self.beta1[k, g].fill_(beta1)

    @contextmanager
    def _hyper(self, k: int) -> Iterator[None]:
        """Step k's lr and beta1 as 0-dim views of the buffers, in place of the floats, for one step."""
        groups = self.optimizer.param_groups
        saved = [(g["lr"], g.get("betas")) for g in groups]
        for g, group in enumerate(groups):
            group["lr"] = self.lr[k, g]
            if "betas" in group:
                group["betas"] = (self.beta1[k, g], group["betas"][1])
        try:
            yield
        finally:
            for group, (lr, betas) in zip(groups, saved, strict=True):
                group["lr"] = lr
                if betas is not None:
                    group["betas"] = betas

    def one(self, k: int, x: Tensor, y: Tensor) -> Tensor:
        """Optimizer step k on (x, y): (B, C, H, W) and (B,), or a smaller last batch; its mean loss ()."""
        out = self.forward(x)  # (B, K classes)
        loss = self.loss_fn(out, y)  # ()
        # Zeroed in place: the gradients keep their addresses, which the graph's backward writes to.
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        with self._hyper(k):
            self.optimizer.step()
        loss = loss.detach()
        self.losses[k].copy_(loss)
        self.sums[0].add_(loss)
        self.sums[1].add_(1)
        self.sums[2].add_((out.detach().argmax(dim=1) == y).sum())
        self.sums[3].add_(len(y))
        return loss

    def _run(self) -> None:
        for k in range(self.steps):
            rows = slice(k * self.size, (k + 1) * self.size)
            self.one(k, self.x[rows], self.y[rows])

    def __call__(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """The K steps on `batch` (of the buffers' shape): eagerly, as warm-up, captured or replayed."""
        self.x.copy_(batch[0])
        self.y.copy_(batch[1])
        self.calls += 1
        if not self.capture:
            self._run()
        elif self.graph is not None:
            self.graph.replay()
        elif self.calls <= WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._run()
            torch.cuda.current_stream().wait_stream(side)
        else:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self._run()  # recorded, not run: the replay below runs this call's steps
            self.graph.replay()
        return self.losses

    def eager(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """A batch of another shape (a last, smaller one): its steps of B run eagerly; the losses (K,)."""
        x, y = batch
        for k, start in enumerate(range(0, len(y), self.size)):
            self.one(k, x[start : start + self.size], y[start : start + self.size])
        return self.losses[: k + 1]

    def take_sums(self) -> tuple[Tensor, Tensor]:
        """The epoch's (mean loss, accuracy) so far as device tensors; the sums start again at zero."""
        loss_sum, batches, correct, samples = self.sums.clone()
        self.sums.zero_()  # in place: the graph keeps adding into the same tensor
        return loss_sum / batches, correct / samples
