"""Published slide models in the WSInfer model-zoo format: a folder with `config.json` and the weights.

The format (https://github.com/SBU-BMI/wsinfer-zoo, `model-config.schema.json`, spec_version "1.0"):

    config.json        spec_version, architecture (a timm model name), num_classes, class_names,
                       patch_size_pixels, spacing_um_px and `transform`, a list of
                       Resize(size) / ToTensor / Normalize(mean, std) applied to each patch
    model.safetensors  the network's state dict (tensors only: loading it cannot run code)
    torchscript_model.pt  (some models) a TorchScript program: loading it runs code from the file,
                       so radpath loads it only with `trust_model_code=True` (`--trust-model-code`)

A patch is the square of `patch_size_pixels` pixels at `spacing_um_px` microns per pixel: radpath
reads it from the slide level nearest to that spacing (never a coarser one), resamples it to
`patch_size_pixels`, then applies the declared transforms in their order (Resize on the 8-bit
image, ToTensor = x / 255, Normalize = (x - mean) / std), as WSInfer does.

Architectures are built by their timm name with `pretrained=False` (nothing is downloaded). One
published name is not in timm: `inception_v4nobn`, the TIL model of Abousamra et al. 2022
(Saltz lab, trained in TF-Slim without batch normalisation and converted). WSInfer registers it
as timm's Inception-v4 with every BatchNorm removed and a bias added to the convolution before
it; `EXTRA_ARCHITECTURES` builds exactly that from `timm.create_model("inception_v4")` by swapping
each `ConvNormAct`'s bias-free conv for a biased one and its `BatchNormAct2d` for the ReLU it
applied, which gives the published state-dict names (`features.0.conv.weight`, `...conv.bias`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from radpath.errors import ModelFileError

FORMAT = "wsinfer-zoo"
SPEC_VERSIONS = ("1.0",)
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TORCHSCRIPT_NAME = "torchscript_model.pt"
TRANSFORM_ORDER = ("Resize", "ToTensor", "Normalize")


class Transform(BaseModel):
    """One item of the config's `transform` list (torchvision names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["Resize", "ToTensor", "Normalize"]
    arguments: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_arguments(self) -> Transform:
        args = self.arguments or {}
        allowed = {"Resize": {"size"}, "ToTensor": set(), "Normalize": {"mean", "std"}}[self.name]
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ValueError(f"{self.name}: unsupported arguments {unknown} (radpath reads {sorted(allowed)})")
        if self.name == "Resize":
            size = args.get("size")
            sides = [size] if isinstance(size, int) else size
            if (not isinstance(sides, list) or not sides or len(sides) > 2
                    or not all(isinstance(s, int) and s > 0 for s in sides) or len(set(sides)) != 1):
                raise ValueError(f"Resize: size must be a positive integer (square patches), found {size!r}")
        if self.name == "Normalize":
            for key in ("mean", "std"):
                value = args.get(key)
                if not isinstance(value, list) or len(value) != 3 or not all(
                        isinstance(v, int | float) for v in value):
                    raise ValueError(f"Normalize: {key} must be a list of 3 numbers, found {value!r}")
            if not all(v > 0 for v in args["std"]):
                raise ValueError(f"Normalize: std must be positive, found {args['std']}")
        return self


class ZooConfig(BaseModel):
    """`config.json` of a WSInfer model-zoo folder (spec_version 1.0)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    spec_version: str
    architecture: str = Field(min_length=1)
    num_classes: int = Field(ge=1)
    class_names: list[str]
    patch_size_pixels: int = Field(ge=1)
    spacing_um_px: float = Field(gt=0)
    transform: list[Transform]

    @field_validator("spec_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in SPEC_VERSIONS:
            raise ValueError(f"unknown spec_version {value!r}; radpath reads {list(SPEC_VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ZooConfig:
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class_names for num_classes {self.num_classes}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names repeat a name: {self.class_names}")
        names = [t.name for t in self.transform]
        if "ToTensor" not in names or len(set(names)) != len(names) or names != sorted(
                names, key=TRANSFORM_ORDER.index):
            raise ValueError(f"transform {names}: radpath applies at most one each of {list(TRANSFORM_ORDER)}, "
                             "in that order, with ToTensor")
        return self

    def _arguments(self, name: str) -> dict[str, Any] | None:
        for item in self.transform:
            if item.name == name:
                return item.arguments or {}
        return None

    @property
    def input_px(self) -> int:
        """Side of the network input: Resize's size, else the patch size."""
        args = self._arguments("Resize")
        if args is None:
            return self.patch_size_pixels
        size = args["size"]
        return int(size if isinstance(size, int) else size[0])

    @property
    def mean(self) -> list[float]:
        args = self._arguments("Normalize")
        return [float(v) for v in args["mean"]] if args is not None else [0.0, 0.0, 0.0]

    @property
    def std(self) -> list[float]:
        args = self._arguments("Normalize")
        return [float(v) for v in args["std"]] if args is not None else [1.0, 1.0, 1.0]


def read_config(folder: str | Path) -> ZooConfig:
    """Validate `folder/config.json`; errors name the file and the offending field."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(f"model folder {folder}: no {CONFIG_NAME} (a WSInfer model-zoo folder has one)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"model config {path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"model config {path}: expected a JSON object, found {type(data).__name__}")
    version = data.get("spec_version")
    if version not in SPEC_VERSIONS:
        raise ModelFileError(f"model config {path}: unknown spec_version {version!r}; radpath reads "
                             f"{list(SPEC_VERSIONS)}")
    try:
        return ZooConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"{p}: " for p in [".".join(str(p) for p in first["loc"])] if p)
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ModelFileError(f"model config {path}: {where}{message}{more}") from None


def weights_file(folder: str | Path) -> Path:
    """The weights radpath would load: model.safetensors, else torchscript_model.pt."""
    folder = Path(folder)
    for name in (WEIGHTS_NAME, TORCHSCRIPT_NAME):
        if (folder / name).is_file():
            return folder / name
    raise ModelFileError(f"model folder {folder}: neither {WEIGHTS_NAME} nor {TORCHSCRIPT_NAME} found")


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The model metadata radpath's inference uses, from the config alone (nothing is loaded)."""
    config = read_config(folder)
    weights = weights_file(folder)
    return {
        "format": FORMAT, "spec_version": config.spec_version, "arch": config.architecture, "task": None,
        "classes": list(config.class_names), "num_classes": config.num_classes,
        "patch_px": config.patch_size_pixels, "mpp": config.spacing_um_px,
        "read_px": config.patch_size_pixels, "input_px": config.input_px,
        "mean": config.mean, "std": config.std, "weights": weights.name,
        "transform": [t.model_dump() for t in config.transform],
    }


def folder_hash(folder: str | Path) -> str:
    """sha256 over the config's and the weights file's own sha256 (the two files radpath reads)."""
    from radpath.warehouse.runs import hash_file

    folder = Path(folder)
    parts = [f"{p.name}:{hash_file(p)}" for p in (folder / CONFIG_NAME, weights_file(folder))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _inception_v4_nobn(num_classes: int) -> Any:
    """timm's Inception-v4 with every BatchNorm removed (ReLU kept) and biased convolutions."""
    import timm
    from timm.layers import BatchNormAct2d
    from torch import nn

    model = timm.create_model("inception_v4", pretrained=False, num_classes=num_classes)
    for module in list(model.modules()):
        conv, norm = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(norm, BatchNormAct2d):
            module.conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,  # type: ignore[arg-type]
                                    conv.stride, conv.padding, bias=True)  # type: ignore[arg-type]
            module.bn = norm.act
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ModelFileError("inception_v4nobn: timm's inception_v4 layout changed (a BatchNorm is left)")
    return model


# Published architecture names that timm does not know, and how radpath builds them.
EXTRA_ARCHITECTURES: dict[str, Callable[[int], Any]] = {"inception_v4nobn": _inception_v4_nobn}


def build_architecture(name: str, num_classes: int, *, source: str = "") -> Any:
    """The untrained network called `name` (timm, or `EXTRA_ARCHITECTURES`) with `num_classes` outputs."""
    if name in EXTRA_ARCHITECTURES:
        return EXTRA_ARCHITECTURES[name](num_classes)
    import timm

    if not timm.is_model(name):
        where = f"model config {source}: " if source else ""
        raise ModelFileError(f"{where}unknown architecture {name!r}: not a timm {timm.__version__} model name "
                             f"nor one of {sorted(EXTRA_ARCHITECTURES)}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def load_weights(model: Any, path: Path, *, arch: str, num_classes: int) -> None:
    """Load safetensors weights into `model`, naming the first tensor that is missing, extra or misshapen.

    `model` may be built on the meta device (no memory, no random initialisation): the file's tensors then
    become its weights, and a buffer the file lacks (BatchNorm's `num_batches_tracked`) starts at zero."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"weights {path}: not a readable safetensors file ({exc})") from None
    expected = model.state_dict()
    what = f"{arch} with {num_classes} classes"
    for key, value in expected.items():
        if key in tensors and tuple(tensors[key].shape) != tuple(value.shape):
            raise ModelFileError(f"weights {path}: tensor {key!r} has shape {tuple(tensors[key].shape)}, "
                                 f"{what} expects {tuple(value.shape)}")
    missing = [k for k in expected if k not in tensors and not k.endswith("num_batches_tracked")]
    extra = sorted((k for k in tensors if k not in expected), key=lambda k: k.endswith("num_batches_tracked"))
    if missing:
        raise ModelFileError(f"weights {path}: tensor {missing[0]!r} of {what} is missing"
                             + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
    if extra:
        raise ModelFileError(f"weights {path}: tensor {extra[0]!r} is not part of {what}"
                             + (f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""))
    model.load_state_dict(tensors, strict=False, assign=True)
    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer.is_meta:
                module.register_buffer(name, torch.zeros(buffer.shape, dtype=buffer.dtype))


# In-place initialisers that leave a tensor's shape as it is: on the meta device they only cost Python time
# (0.1 s of CPU for a timm ResNet-34, more than reading its weights), so `_built_without_init` skips them.
INITIALISERS = frozenset({
    "normal_", "uniform_", "zero_", "fill_", "constant_", "ones_", "zeros_", "trunc_normal_", "kaiming_normal_",
    "kaiming_uniform_", "xavier_normal_", "xavier_uniform_", "orthogonal_", "eye_", "dirac_", "sparse_",
})


def _built_without_init(build: Callable[[], Any]) -> Any:
    """`build()` on the meta device with the initialisers above skipped for meta tensors (nothing is
    allocated; every value comes from the weights file)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class SkipInit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            first = args[0] if args else None
            if (getattr(func, "__name__", "") in INITIALISERS and isinstance(first, torch.Tensor)
                    and first.is_meta):
                return first
            return func(*args, **(kwargs or {}))

    with torch.device("meta"), SkipInit():
        return build()


def _computed_buffers(model: Any) -> list[str]:
    """Buffers the network computes when built and does not save (non-persistent: Swin's relative position
    index, for one): built on the meta device they would hold nothing, and no weights file restores them."""
    saved = set(model.state_dict())
    return [name for name, _ in model.named_buffers() if name not in saved]


def load_zoo_model(folder: str | Path, *, device: str = "cpu", trust_model_code: bool = False
                   ) -> tuple[Any, dict[str, Any]]:
    """The network of a zoo folder (eval mode, on `device`) and its metadata."""
    import torch

    folder = Path(folder)
    meta = read_meta(folder)
    weights = folder / meta["weights"]
    if weights.name == TORCHSCRIPT_NAME:
        if not trust_model_code:
            raise ModelFileError(
                f"model folder {folder}: only {TORCHSCRIPT_NAME}, a TorchScript program; loading it runs code "
                f"from the file. Pass --trust-model-code to allow that, or supply {WEIGHTS_NAME}"
            )
        try:
            model = torch.jit.load(str(weights), map_location=device)
        except Exception as exc:   # torch raises RuntimeError / ValueError subclasses for bad archives
            raise ModelFileError(f"weights {weights}: not a loadable TorchScript file ({exc})") from None
    else:
        def build() -> Any:
            return build_architecture(meta["arch"], meta["num_classes"], source=str(folder / CONFIG_NAME))

        model = _built_without_init(build)   # the weights come from the file: no allocation, no random values
        if _computed_buffers(model):   # values made at construction, not in the file: build it for real
            model = build()
        load_weights(model, weights, arch=meta["arch"], num_classes=meta["num_classes"])
    model.eval().to(device)
    return model, meta
