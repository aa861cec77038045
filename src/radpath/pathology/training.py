"""Training steps every pathology trainer shares (patch classifiers, segmentation, cell detectors).

`optimise` is one optimiser step (through a GradScaler when mixed precision runs on CUDA);
`load_init_weights` starts a network's backbone or encoder from a local weights file (nothing is
downloaded).
"""

from __future__ import annotations

import torch
from torch import nn

from radpath.errors import ModelFileError


def load_init_weights(model: nn.Module, path: str, skip: tuple[str, ...] = ("head",)) -> None:
    """Load the tensors of a local weights file (safetensors, or a torch state dict read with
    weights_only) that fit `model` by name and shape, except those whose names start with `skip`.
    Used for patch-classifier backbones and segmentation encoders alike; nothing is downloaded."""
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"initial weights {path}: cannot be loaded safely ({exc})") from None
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith(skip)}
    if not fitting:
        raise ModelFileError(f"initial weights {path}: no tensor fits the {type(model).__name__} backbone")
    model.load_state_dict(fitting, strict=False)


def optimise(optimiser: torch.optim.Optimizer, loss: torch.Tensor,
             scaler: torch.amp.GradScaler | None = None) -> float:
    """One optimiser step on `loss` (through `scaler` when mixed precision runs on CUDA); the loss's value."""
    optimiser.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimiser.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
    return float(loss.detach())
