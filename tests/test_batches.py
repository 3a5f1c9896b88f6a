"""Resident-tensor batches (epochs, DDP shards) and on-device augmentation."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from mnist_lightning.data.augment import Augment
from mnist_lightning.data.batches import TensorBatches
from mnist_lightning.data.digits import Digits
from mnist_lightning.train import train


def _digits(n: int) -> Digits:
    return Digits(torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, 28, 28), torch.arange(n) % 10)


def _seen(batches: TensorBatches) -> list[int]:
    return [int(v) for images, _ in batches for v in images[:, 0, 0]]


def test_each_epoch_sees_every_sample_once_in_its_own_seeded_order() -> None:
    epoch = [0]
    batches = TensorBatches(_digits(103), 10, shuffle=True, seed=5, epoch=lambda: epoch[0])
    first = _seen(batches)
    again = _seen(batches)
    epoch[0] = 1
    second = _seen(batches)
    assert len(batches) == 11 and sorted(first) == list(range(103))
    assert first == again and first != second and sorted(second) == list(range(103))


def test_a_restored_state_continues_its_epoch_where_it_stopped() -> None:
    epoch = [1]
    batches = TensorBatches(_digits(103), 10, shuffle=True, seed=5, epoch=lambda: epoch[0])
    whole = [[int(v) for v in images[:, 0, 0]] for images, _ in batches]
    started = iter(batches)
    seen = [next(started) for _ in range(4)]  # a checkpoint is written after the 4th batch
    state = batches.state_dict()
    assert state == {"seed": 5, "epoch": 1, "position": 4} and len(seen) == 4

    resumed = TensorBatches(_digits(103), 10, shuffle=True, seed=5, epoch=lambda: epoch[0])
    resumed.load_state_dict(state)
    rest = [[int(v) for v in images[:, 0, 0]] for images, _ in resumed]
    assert rest == whole[4:]  # not the epoch's first batches again
    assert resumed.state_dict()["position"] == 0  # a finished pass leaves nothing to continue
    assert _seen(resumed) == _seen(batches)  # and the next pass is whole

    stale = TensorBatches(_digits(103), 10, shuffle=True, seed=5, epoch=lambda: epoch[0])
    stale.load_state_dict({"seed": 5, "epoch": 0, "position": 4})  # saved in an epoch that is over
    assert len(_seen(stale)) == 103


def test_ddp_training_shards_are_equal_and_disjoint() -> None:
    shards = [_seen(TensorBatches(_digits(103), 8, True, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 51  # one sample left over, so both ranks step together
    assert not set(shards[0]) & set(shards[1])


def test_ddp_evaluation_shards_cover_every_sample_exactly_once() -> None:
    shards = [_seen(TensorBatches(_digits(103), 8, False, rank=r, world_size=3)) for r in range(3)]
    assert sorted(shards[0] + shards[1] + shards[2]) == list(range(103))


def test_identity_augmentation_changes_nothing() -> None:
    x = torch.rand(4, 1, 28, 28)
    same = Augment(degrees=0, translate=0, scale=(1, 1), elastic_alpha=0)(x)
    assert torch.allclose(same, x, atol=1e-5)


def test_augmentation_moves_pixels_but_keeps_the_digit() -> None:
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a bar in the middle
    out = Augment(degrees=15, translate=0.1, scale=(0.9, 1.1), elastic_alpha=1.0)(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)
    mass = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    # The elastic field thins and thickens a 4-pixel bar locally, but none of it leaves the image.
    assert ((mass > 0.4) & (mass < 2.0)).all()


def test_elastic_alpha_is_the_displacement_in_pixels() -> None:
    torch.manual_seed(0)
    # On a ramp whose value is the column index, bilinear sampling returns the sampled column,
    # so the output minus the ramp is each pixel's horizontal displacement.
    ramp = torch.arange(28.0).expand(256, 1, 28, 28).contiguous()
    moved = Augment(degrees=0, translate=0, scale=(1, 1), elastic_alpha=1.5, elastic_sigma=4.0)(ramp)
    shift = (moved - ramp)[:, :, 8:20, 8:20]  # the interior, clear of the zero padding
    assert 1.2 < shift.std().item() < 1.8
    assert abs(shift.mean().item()) < 0.1


class _BatchSpy(L.Callback):
    def __init__(self) -> None:
        self.train: list[torch.Tensor] = []
        self.val: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, idx: int) -> None:
        self.train.append(batch[0])

    def on_validation_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch, idx: int
    ) -> None:
        self.val.append(batch[0])


def test_augmentation_applies_to_training_batches_only(
    compose: Callable[..., DictConfig], tiny_mnist: Path, monkeypatch
) -> None:
    spy = _BatchSpy()
    original = L.Trainer.__init__

    def with_spy(self: L.Trainer, *args, callbacks=None, **kwargs) -> None:
        original(self, *args, callbacks=[*(callbacks or []), spy], **kwargs)

    monkeypatch.setattr(L.Trainer, "__init__", with_spy)
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "data/augment=elastic")
    train(cfg)
    levels = (torch.arange(256) / 255.0 - cfg.data.mean) / cfg.data.std  # every unwarped value

    def on_grid(x: torch.Tensor) -> float:
        return torch.isclose(x.reshape(-1, 1), levels.reshape(1, -1), atol=1e-5).any(1).float().mean().item()

    assert on_grid(spy.val[0]) == 1.0  # validation images are exactly the normalised pixels
    assert on_grid(spy.train[0]) < 0.9  # training images were resampled by the warp
    assert math.isfinite(float(spy.train[0].sum()))
