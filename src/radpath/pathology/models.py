"""Model files every slide analysis shares: safetensors weights with their metadata, and device choice.

A model file is safetensors: tensors plus the metadata JSON under the key "radpath" (format, version
and what the analysis that wrote it records: task, arch, arch_kwargs, input_px, patch_px, mpp,
classes, mean, std, metrics, data_hash ...). safetensors cannot run code when loaded; a pickle `.pt`
with the same content is accepted only through `torch.load(weights_only=True)`. Model files are named
`.safetensors`; a file named `.pt` by an older radpath (which held safetensors all the same) still
loads, but no new file is written under a torch pickle's name. A JSON sidecar (`<file>.json`) repeats
the metadata for people.

Each analysis owns its networks and checks its own format: `radpath.pathology.til.nets` (patch
classifiers), `segmentation.nets`, `cells.nets` rebuild a network with `instantiate(path, tensors,
meta, build)`, passing their own architecture registry's `build`. A folder is a published model in
the WSInfer model-zoo format (`radpath.pathology.zoo`): `read_meta` and `model_hash` take either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radpath.errors import ModelFileError

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt")


def check_model_name(path: str | Path) -> Path:
    """`path` as a model file to write: safetensors, so not named like a torch pickle (`.pt`); trainers call it
    before training, so a wrong name costs nothing."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelFileError(f"model file {path}: radpath writes safetensors, not a torch pickle; name it "
                             f"{path.with_suffix('.safetensors').name}")
    return path


def save_model(path: str | Path, model: nn.Module, meta: dict[str, Any], *, fmt: str, version: int) -> Path:
    """Write `model`'s weights and `meta` as one safetensors file, plus a `<path>.json` sidecar.

    `fmt` names the kind of model (patch classifier, segmentation network, cell detector) its loader checks for.
    """
    from safetensors.torch import save_file

    path = check_model_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": fmt, "version": version, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"radpath": json.dumps(full)})
    Path(f"{path}.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
        if "radpath" not in header:
            raise ModelFileError(f"model file {path}: safetensors file without radpath metadata")
        return tensors, json.loads(header["radpath"])
    except (SafetensorError, OSError, ValueError):
        pass
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic != b"PK" and magic[:1] != b"\x80":  # neither a torch archive (zip) nor a pickle (protocol >= 2)
        raise ModelFileError(f"model file {path}: not a safetensors or torch weights file")
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise ModelFileError(
                f"model file {path}: refused, loading it would run code (pickled objects beyond tensors)"
            ) from None
        raise ModelFileError(f"model file {path}: not a safetensors or torch weights file ({exc})") from None
    if not isinstance(blob, dict) or "state_dict" not in blob or "meta" not in blob:
        raise ModelFileError(f"model file {path}: a torch file without 'state_dict' and 'meta'")
    meta = blob["meta"]
    return dict(blob["state_dict"]), json.loads(meta) if isinstance(meta, str) else dict(meta)


def read_meta(path: str | Path) -> dict[str, Any]:
    """A model file's metadata, or a zoo folder's (from its config.json; nothing is loaded)."""
    if Path(path).is_dir():
        from radpath.pathology import zoo

        return zoo.read_meta(path)
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} does not exist")
    return _read(Path(path))[1]


def read_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of any radpath model file (safetensors, or a weights-only torch file);
    other model kinds (cell detectors) check the metadata's `format` themselves."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    return _read(path)


def model_hash(path: str | Path) -> str:
    """sha256 of a model file, or of a zoo folder's config and weights (`zoo.folder_hash`)."""
    from radpath.warehouse.runs import hash_file

    if Path(path).is_dir():
        from radpath.pathology import zoo

        return zoo.folder_hash(path)
    return hash_file(Path(path))


def instantiate(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
    build: Callable[..., nn.Module], device: str = "cpu",
) -> nn.Module:
    """The network `build(meta['arch'], **meta['arch_kwargs'])` with a model file's weights, in eval mode on
    `device`; weights that do not fit are a ModelFileError naming the file (patch, cell and tissue models)."""
    model = build(str(meta.get("arch")), **meta.get("arch_kwargs", {}))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ModelFileError(f"model file {path}: weights do not fit architecture {meta.get('arch')}: {exc}") from None
    return model.eval().to(device)


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelFileError("--device cuda asked for, but torch sees no CUDA device")
    return device
