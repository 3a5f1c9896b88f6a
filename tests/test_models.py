"""A forward pass for every model config: output shape, no NaN, and the loss it is paired with."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from conftest import group_options
from hydra.utils import instantiate
from omegaconf import DictConfig

IN_SHAPE = (1, 28, 28)
COLOUR_SHAPE = (3, 32, 32)  # data=folder data.channels=3 data.image_size=32
NUM_CLASSES = 10  # any class count works; the digits


@pytest.mark.parametrize("in_shape", [IN_SHAPE, COLOUR_SHAPE], ids=["1x28x28", "3x32x32"])
@pytest.mark.parametrize("name", group_options("model"))
def test_forward_every_model(
    name: str, in_shape: tuple[int, int, int], compose: Callable[..., DictConfig]
) -> None:
    cfg = compose(f"model={name}")
    torch.manual_seed(0)
    net = instantiate(cfg.model.net, in_shape=in_shape, num_classes=NUM_CLASSES)
    loss_fn = instantiate(cfg.model.loss)
    x = torch.randn(5, *in_shape)
    out = net(x)
    assert out.shape == (5, NUM_CLASSES) and torch.isfinite(out).all()
    loss = loss_fn(out, torch.arange(5))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    probs = loss_fn.probs(out.detach())
    assert torch.allclose(probs.sum(1), torch.ones(5), atol=1e-5) and (probs >= 0).all()


def test_lenet5_has_exactly_61706_parameters(compose: Callable[..., DictConfig]) -> None:
    net = instantiate(compose("model=lenet5").model.net, in_shape=IN_SHAPE, num_classes=NUM_CLASSES)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 61_706


def test_bncnn_emits_logits_not_probabilities(compose: Callable[..., DictConfig]) -> None:
    net = instantiate(compose("model=bncnn").model.net, in_shape=IN_SHAPE, num_classes=NUM_CLASSES)
    out = net.eval()(torch.randn(4, *IN_SHAPE))
    assert not torch.allclose(out.sum(1), torch.ones(4))  # a softmax output would sum to one
    assert (out < 0).any()


def test_mlp_outputs_log_probabilities(compose: Callable[..., DictConfig]) -> None:
    net = instantiate(compose("model=mlp").model.net, in_shape=IN_SHAPE, num_classes=NUM_CLASSES)
    out = net(torch.randn(3, *IN_SHAPE))
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)


def test_models_follow_the_input_shape(compose: Callable[..., DictConfig]) -> None:
    # The input shape comes from the data: a 32x32 dataset needs no change in any model file.
    for name in group_options("model"):
        net = instantiate(compose(f"model={name}").model.net, in_shape=(1, 32, 32), num_classes=NUM_CLASSES)
        assert net(torch.randn(2, 1, 32, 32)).shape == (2, NUM_CLASSES), name
