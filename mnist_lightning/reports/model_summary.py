"""A model summary: every layer's output shape and parameter count, totals and size, as text."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def model_summary(net: nn.Module, in_shape: tuple[int, int, int]) -> str:
    """One row per leaf layer with its output shape and parameters, from a forward pass of one image."""
    rows: list[tuple[str, str, str, int]] = []
    hooks = []

    def record(name: str, module: nn.Module) -> None:
        def hook(_: nn.Module, __: tuple[Tensor, ...], out: Tensor) -> None:
            shape = list(out.shape) if isinstance(out, Tensor) else "?"
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append((name, type(module).__name__, str(shape), params))

        hooks.append(module.register_forward_hook(hook))

    for name, module in net.named_modules():
        if name and not list(module.children()):  # leaves only: containers would count twice
            record(name, module)
    was_training = net.training
    net.eval()
    try:
        device = next(net.parameters()).device
        with torch.no_grad():
            net(torch.zeros(1, *in_shape, device=device))
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    size_mb = sum(p.numel() * p.element_size() for p in net.parameters()) / 2**20
    width = max([len(r[0]) for r in rows] + [5])
    lines = [f"{'layer':<{width}}  {'type':<18} {'output shape':<20} {'params':>10}", "-" * (width + 52)]
    lines += [f"{n:<{width}}  {t:<18} {s:<20} {p:>10,}" for n, t, s, p in rows]
    lines += [
        "-" * (width + 52),
        f"total params: {total:,}",
        f"trainable params: {trainable:,}",
        f"non-trainable params: {total - trainable:,}",
        f"parameter size: {size_mb:.2f} MB",
    ]
    return "\n".join(lines) + "\n"
