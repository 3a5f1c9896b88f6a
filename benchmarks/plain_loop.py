"""The usual plain-PyTorch MNIST loop, written the way tutorials write it, as the speed baseline."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnist_lightning.data.digits import Digits

MEAN, STD = 0.1307, 0.3081


class PlainNet(nn.Module):
    """conv5x5(24)-maxpool-relu-conv3x3(32)-maxpool-relu-fc256-fc10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, 5)  # (B, 24, 24, 24)
        self.conv2 = nn.Conv2d(24, 32, 3)  # (B, 32, 10, 10)
        self.fc1 = nn.Linear(32 * 5 * 5, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))  # (B, 24, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))  # (B, 32, 5, 5)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@dataclass
class PlainSettings:
    """Knobs of the plain loop; the defaults are the usual fp32 loop of the issue."""

    batch_size: int = 256
    lr: float = 1e-2
    betas: tuple[float, float] = (0.7, 0.9)
    epochs: int = 1
    bf16: bool = False
    channels_last: bool = False
    device: str = "cpu"


def _images(digits: Digits, memory_format: torch.memory_format, device: str) -> Tensor:
    x = ((digits.images.to(device).float() / 255 - MEAN) / STD).unsqueeze(1)  # (N, 1, 28, 28)
    return x.contiguous(memory_format=memory_format)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()  # GPU work is asynchronous: time it only once it has finished


def _accuracy(net: nn.Module, x: Tensor, y: Tensor, bf16: bool) -> float:
    net.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(y), 1000):
            correct += int((net(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum())
    net.train()
    return correct / len(y)


def plain_fit(train: Digits, val: Digits, test: Digits, s: PlainSettings, seed: int = 0) -> dict[str, float]:
    """Train on `train`, validate on `val` each epoch (timed, as our Trainer does), test once (untimed)."""
    torch.manual_seed(seed)
    memory_format = torch.channels_last if s.channels_last else torch.contiguous_format
    net = PlainNet().to(s.device, memory_format=memory_format)
    x, y = _images(train, memory_format, s.device), train.labels.to(s.device)
    xv, xt = _images(val, memory_format, s.device), _images(test, memory_format, s.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=s.lr, betas=s.betas)
    steps_per_epoch = -(-len(y) // s.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, s.lr, total_steps=s.epochs * steps_per_epoch)
    _sync(s.device)
    start = time.perf_counter()
    for _ in range(s.epochs):
        order = torch.randperm(len(y), device=y.device)
        for i in range(0, len(y), s.batch_size):
            idx = order[i : i + s.batch_size]
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=s.bf16):
                loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        val_acc = _accuracy(net, xv, val.labels.to(s.device), s.bf16)
    _sync(s.device)
    fit_seconds = time.perf_counter() - start
    return {
        "fit_seconds": fit_seconds,
        "val/acc": val_acc,
        "test/acc": _accuracy(net, xt, test.labels.to(s.device), s.bf16),
    }
