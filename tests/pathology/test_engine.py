"""The scoring engine (#24 §4): WSInfer's patch grid patch by patch, no padded forwards on the CPU, one run for
a model serving both maps, slides checked before models load, prepared networks equal to eager ones,
model files named .safetensors."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from radpath.errors import ModelFileError, PathologyError
from radpath.pathology.infer import predict_probs
from radpath.pathology.netprep import prepare_for_inference
from radpath.pathology.slides import open_slide
from radpath.pathology.til import pipeline
from radpath.pathology.til.nets import build, load_model, save_classifier
from radpath.pathology.til.train import TrainConfig, train_classifier
from radpath.pathology.tiling import read_batches, run_batches
from radpath.pathology.tissue import PatchGrid, patch_grid

from .conftest import make_slide


def wsinfer_origins(width: int, height: int, side: int) -> list[tuple[int, int]]:
    """WSInfer 0.6.1's patch corners, written out as its patchlib lays them: centres at half, half + side, ...
    on each axis while the centre is inside the slide (half = round(side / 2)), corner = centre - half."""
    half = round(side / 2)
    xs = list(range(half, width, side))
    ys = list(range(half, height, side))
    return [(x - half, y - half) for y in ys for x in xs]


@pytest.mark.parametrize(("width", "height", "patch_px", "model_mpp", "slide_mpp", "side", "shape"), [
    # 350 px at 0.25 um/px on a 0.5 um/px slide: side 175, half round(87.5) = 88 (half to even);
    # columns: centres 88, 263, 438, 613, 788 < 800 -> 5; rows: 88, 263, 438 < 600 (613 is not) -> 3
    (800, 600, 350, 0.25, 0.5, 175, (3, 5)),
    # the slide: 0.499 um/px gives 175.35 level-0 px, WSInfer's round() makes it 175
    (800, 600, 350, 0.25, 0.499, 175, (3, 5)),
    # 201 px at 0.25 on 0.5: 100.5 rounds half to even -> 100; half 50; centres 50 ... 750 < 800 -> 8 columns,
    # 50 ... 550 < 600 -> 6 rows
    (800, 600, 201, 0.25, 0.5, 100, (6, 8)),
    # 96 px at 1.0 on 0.5: side 192, half 96; columns 96, 288, 480, 672 < 700 -> 4; rows 96, 288 < 300 -> 2
    (700, 300, 96, 1.0, 0.5, 192, (2, 4)),
])
def test_wsinfer_grid_matches_wsinfers_patch_corners(width: int, height: int, patch_px: int, model_mpp: float,
                                                     slide_mpp: float, side: int, shape: tuple[int, int]) -> None:
    grid = patch_grid(width, height, patch_px, model_mpp, slide_mpp, "wsinfer")
    assert grid.patch0 == side and grid.shape == shape
    rows, cols = grid.shape
    coords = np.array([(i, j) for i in range(rows) for j in range(cols)])
    got = [tuple(int(v) for v in xy) for xy in grid.origins0(coords)]
    assert got == wsinfer_origins(width, height, side)   # patch by patch, in the same order
    radpath = patch_grid(width, height, patch_px, model_mpp, slide_mpp)
    assert radpath.patch0 == pytest.approx(patch_px * model_mpp / slide_mpp)
    assert radpath.shape == (int(height // radpath.patch0), int(width // radpath.patch0))   # whole patches only


def test_wsinfer_grid_scores_patches_whose_centre_is_on_tissue() -> None:
    grid = PatchGrid(800, 600, 175.0, "wsinfer")           # 3 x 5 patches, centres at 88 + 175 k
    mask = np.zeros((60, 80), bool)                         # a thumbnail at 1/10: pixel (r, c) covers 10 x 10
    mask[8, 26] = True                                      # holds the centre (263, 88) of patch (0, 1)
    mask[43, 78] = True                                     # the centre (788, 438) of the edge patch (2, 4)
    mask[30:40, 30:40] = True                               # tissue between centres: no centre on it
    expected = np.zeros((3, 5), bool)
    expected[0, 1] = expected[2, 4] = True
    np.testing.assert_array_equal(grid.select(mask), expected)
    assert not PatchGrid(800, 600, 175.0).select(mask).any()   # radpath's rule: under half of any patch


class CountingNet(torch.nn.Module):
    """A real small network that records the rows of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.net = build("resnet18", width=4)
        self.rows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(int(x.shape[0]))
        out: torch.Tensor = self.net(x)
        return out


def test_the_last_short_batch_is_not_padded_on_the_cpu(tmp_path: Path) -> None:
    path = tmp_path / "S.tiff"
    make_slide(path, 30.0, seed=3)
    _, info = open_slide(path, "S")
    origins = np.array([(x, y) for y in range(0, 500, 60) for x in range(0, 480, 60)])[:71]
    model = CountingNet().eval()
    batches = read_batches(info, origins, 60, 32, "S", batch=32, readers=1)
    outputs = list(run_batches(model, batches, mean=[0.5] * 3, std=[0.25] * 3, device="cpu", batch=32))
    assert model.rows == [32, 32, 7]          # 71 rows computed, not 96
    assert sum(len(out) for _, out in outputs) == 71


def _with_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics that are not the identity, so folding them is exercised."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _timm(name: str) -> torch.nn.Module:
    from radpath.pathology.zoo import build_architecture

    return build_architecture(name, 2)   # type: ignore[no-any-return]


# (network, input px, convolutions fused with their ReLU, with a residual addition (and its ReLU)), counted on
# the architectures: radpath's ResNet-18 has a stem conv + 8 blocks (conv1 + ReLU each, conv2 + add + ReLU each)
# and 3 shortcut convolutions; ResNet-34: 1 + 16 blocks, 3 shortcuts; VGG16 13 conv + ReLU; timm's ResNet-18 as
# radpath's; Inception-v4: every convolution is conv -> BN -> ReLU, no residual.
NETWORKS = [
    (lambda: build("resnet18", width=8), 32, 9, 8),
    (lambda: build("resnet34", width=8), 112, 17, 16),
    (lambda: build("vgg16", width=8), 112, 13, 0),
    (lambda: build("inception_v4", width=8), 80, None, 0),
    (lambda: _timm("resnet18"), 96, 9, 8),
]


@pytest.mark.parametrize(("make", "input_px", "relus", "adds"), NETWORKS,
                         ids=["resnet18-32px", "resnet34-112px", "vgg16-112px", "inception_v4-80px", "timm-resnet18"])
def test_prepared_networks_equal_the_eager_network(make: Any, input_px: int, relus: int | None, adds: int) -> None:
    from radpath.pathology.netprep import FusedConv2d

    model = _with_statistics(make())
    x = torch.rand(2, 3, input_px, input_px)
    with torch.inference_mode():
        eager = torch.softmax(model(x), 1)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    prepared, channels_last = prepare_for_inference(model, "cpu", input_px=input_px)
    assert channels_last == (input_px >= 96)
    fused = [m for m in prepared.modules() if isinstance(m, FusedConv2d)]
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert len(fused) == n_convs                                       # every convolution is one oneDNN call
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.Conv2d) for m in prepared.modules())
    assert sum(m.add for m in fused) == adds
    assert sum(m.relu and not m.add for m in fused) == (relus if relus is not None else n_convs)
    with torch.inference_mode():
        fast = torch.softmax(prepared(x.contiguous(memory_format=torch.channels_last) if channels_last else x), 1)
        again = torch.softmax(model(x), 1)
    assert float((fast - eager).abs().max()) <= 1e-5
    assert torch.equal(again, eager)                                   # the caller's network is unchanged
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    slow = torch.softmax(prepared(x.requires_grad_()), 1)              # with gradients: the plain-torch path
    assert float((slow.detach() - eager).abs().max()) <= 1e-5


def test_a_residual_of_another_shape_is_added_as_torch_adds_it() -> None:
    class Broadcast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.shift = torch.nn.Parameter(torch.arange(4.0).reshape(1, 4, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.conv(x) + self.shift)                # broadcast: no oneDNN residual

    model = Broadcast().eval()
    x = torch.rand(2, 3, 8, 8)
    prepared, _ = prepare_for_inference(model, "cpu", input_px=8)
    with torch.inference_mode():
        assert float((prepared(x) - model(x)).abs().max()) <= 1e-6


def _zoo_folder(folder: Path, classes: list[str], patch_px: int = 96) -> Path:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(1)
    net = _with_statistics(timm.create_model("resnet18", pretrained=False, num_classes=len(classes)))
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "spec_version": "1.0", "architecture": "resnet18", "num_classes": len(classes), "class_names": classes,
        "patch_size_pixels": patch_px, "spacing_um_px": 1.0,
        "transform": [{"name": "Resize", "arguments": {"size": 96}}, {"name": "ToTensor"},
                      {"name": "Normalize", "arguments": {"mean": [0.7, 0.55, 0.68], "std": [0.15, 0.2, 0.12]}}]}))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def test_prepared_zoo_model_maps_equal_the_eager_model_on_the_same_patches(tmp_path: Path) -> None:
    path = tmp_path / "Z.tiff"
    make_slide(path, 40.0, seed=4)
    _, info = open_slide(path, "Z")
    model, meta = load_model(_zoo_folder(tmp_path / "zoo", ["notumor", "tumor"]))
    grid = patch_grid(info.width, info.height, 96, 1.0, info.mpp, "wsinfer")
    selected = np.ones(grid.shape, bool)
    eager = predict_probs(model, meta, info, grid, selected, case_id="Z", batch=4)
    fast_model, channels_last = prepare_for_inference(model, "cpu", input_px=meta["input_px"])
    assert channels_last
    fast = predict_probs(fast_model, {**meta, "channels_last": True}, info, grid, selected, case_id="Z", batch=4)
    assert eager.shape == (*grid.shape, 2) and not np.isnan(eager).any()
    assert float(np.abs(fast - eager).max()) <= 1e-5


def test_one_run_when_one_model_serves_both_maps_and_slides_checked_first(tmp_path: Path) -> None:
    slide = tmp_path / "Z.tiff"
    make_slide(slide, 40.0, seed=5)
    folder = _zoo_folder(tmp_path / "both", ["other", "tumor", "tils"])
    params = pipeline.ScoreParams(tumor_model=str(folder), til_model=str(folder), out_dir=str(tmp_path / "maps"),
                                  grid="wsinfer")
    payload: dict[str, Any] = {"case_id": "Z", "cohort": "slides", "slide": str(slide), "params": asdict(params)}
    pipeline._load.cache_clear()
    model, _ = pipeline._load(str(folder.resolve()), "cpu", False)
    rows: list[int] = []
    model.register_forward_hook(lambda _m, args, _out: rows.append(int(args[0].shape[0])))
    value = pipeline.score_slide(payload)
    geometry = json.loads((Path(value["paths"]["rgb"]).parent / "grid.json").read_text())
    grid = geometry["grids"]["tumor"]
    assert grid == geometry["grids"]["lymphocyte"] and grid["rule"] == "wsinfer" and grid["patch0"] == 192
    assert sum(rows) == value["n_tumor_patches"] > 0   # each tissue patch computed once for both maps
    tumour = np.load(value["paths"]["tumor"])
    lymph = np.load(value["paths"]["lymphocyte"])
    assert np.all(tumour[~np.isnan(tumour)] + lymph[~np.isnan(lymph)] <= 1 + 1e-6)   # two columns of one softmax
    pipeline._load.cache_clear()

    no_mpp = tmp_path / "N.tiff"
    make_slide(no_mpp, 40.0, seed=6, mpp=None)
    payload = {**payload, "case_id": "N", "slide": str(no_mpp),
               "params": {**asdict(params), "tumor_model": str(tmp_path / "missing-model")}}
    with pytest.raises(PathologyError, match="no microns-per-pixel"):   # the slide, not the missing model
        pipeline.score_slide(payload)


def test_model_files_are_named_safetensors_and_old_pt_names_still_load(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"m\.pt: radpath writes safetensors, not a torch pickle; name it "
                                             r"m\.safetensors"):   # refused before any data is read
        train_classifier(tmp_path / "no-data-needed", TrainConfig(task="tumor", epochs=1), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    model = build("resnet18", width=4)
    meta = {"task": "tumor", "arch": "resnet18", "arch_kwargs": {"width": 4}, "input_px": 32, "patch_px": 64,
            "mpp": 0.5, "classes": ["negative", "positive"], "mean": [0.5] * 3, "std": [0.2] * 3}
    written = save_classifier(tmp_path / "old.safetensors", model, meta)
    old = written.rename(tmp_path / "old.pt")           # what radpath before #25 wrote: safetensors named .pt
    loaded, got = load_model(old, "tumor")
    assert got["arch"] == "resnet18"
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model.eval()(x))
