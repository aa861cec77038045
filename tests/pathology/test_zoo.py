"""WSInfer model-zoo folders: radpath's patch probabilities on a real tiny TIFF slide equal a direct timm
forward pass (torchvision transforms, openslide reads at the declared spacing) for both architectures of
the published breast models (ResNet34 tumour, Inception-v4 without batchnorm TIL); bad folders are refused
with the file and the field or tensor named; score-wsi runs on zoo folders and `models list` shows them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms
from typer.testing import CliRunner

from radpath.cli.app import build_app, main
from radpath.errors import ModelFileError
from radpath.pathology.infer import predict_map
from radpath.pathology.models import model_hash, read_meta
from radpath.pathology.netprep import prepare_for_inference
from radpath.pathology.slides import open_slide
from radpath.pathology.til.nets import load_model, positive_index
from radpath.pathology.tissue import PatchGrid
from radpath.pathology.zoo import read_config

from .conftest import make_slide

SPACING = 1.0   # the test slide is 0.5 um/px with levels x1, x2, x4: the declared spacing is level 1 exactly


def _reference_net(arch: str) -> torch.nn.Module:
    """The network as timm builds it; `inception_v4nobn` as timm's inception_v4 whose BatchNorms are
    made the identity (weight 1, running mean 0, running var 1 - eps) so that bn.bias plays the conv bias."""
    name = "inception_v4" if arch == "inception_v4nobn" else arch
    return timm.create_model(name, pretrained=False, num_classes=2).eval()


def _random_weights(arch: str, seed: int) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """Random weights in the published state-dict layout, and the reference network carrying them."""
    torch.manual_seed(seed)
    net = _reference_net(arch)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):   # statistics of a trained network: folding them matters
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    if arch != "inception_v4nobn":
        return {k: v.clone() for k, v in net.state_dict().items()}, net
    state = net.state_dict()
    tensors = {}
    for key, value in state.items():
        if key.endswith(".conv.weight"):
            stem = key[: -len(".conv.weight")]
            bias = 0.05 * torch.randn(value.shape[0])
            tensors[key], tensors[f"{stem}.conv.bias"] = value.clone(), bias
            state[f"{stem}.bn.weight"].fill_(1.0)
            state[f"{stem}.bn.bias"].copy_(bias)
            state[f"{stem}.bn.running_mean"].zero_()
            state[f"{stem}.bn.running_var"].fill_(1.0 - 1e-3)   # timm's inception BN eps is 0.001
        elif ".bn." not in key:
            tensors[key] = value.clone()
    net.load_state_dict(state)
    return tensors, net


def _transform(config: dict[str, Any]) -> transforms.Compose:
    steps = {"Resize": transforms.Resize, "ToTensor": transforms.ToTensor, "Normalize": transforms.Normalize}
    return transforms.Compose([steps[t["name"]](**t.get("arguments", {})) for t in config["transform"]])


def _reference_patches(slide_path: Path, patch_px: int) -> tuple[list[Image.Image], PatchGrid]:
    """Every grid patch read by openslide from level 1 (downsample 2 = the declared 1 um/px) at patch_px."""
    import openslide

    slide = openslide.OpenSlide(str(slide_path))
    assert slide.level_downsamples[1] == 2.0
    side0 = patch_px * 2
    grid = PatchGrid(slide.dimensions[0], slide.dimensions[1], side0)
    images = []
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            region = slide.read_region((j * side0, i * side0), 1, (patch_px, patch_px))
            white = Image.new("RGBA", region.size, (255, 255, 255, 255))
            images.append(Image.alpha_composite(white, region).convert("RGB"))
    slide.close()
    return images, grid


def write_zoo(folder: Path, arch: str, classes: list[str], patch_px: int, resize: int, seed: int,
              slide_path: Path, mean: tuple[float, ...] = (0.7, 0.55, 0.68), std: tuple[float, ...] = (0.15, 0.2, 0.12),
              ) -> dict[str, Any]:
    """A zoo folder with random weights whose head is scaled so the slide's patches get spread probabilities;
    returns the reference network, the config and the reference probabilities of the positive class (index 1)."""
    config = {
        "spec_version": "1.0", "architecture": arch, "num_classes": len(classes), "class_names": classes,
        "patch_size_pixels": patch_px, "spacing_um_px": SPACING,
        "transform": [{"name": "Resize", "arguments": {"size": resize}}, {"name": "ToTensor"},
                      {"name": "Normalize", "arguments": {"mean": list(mean), "std": list(std)}}],
    }
    tensors, net = _random_weights(arch, seed)
    images, grid = _reference_patches(slide_path, patch_px)
    x = torch.stack([_transform(config)(im) for im in images])
    head = "fc" if arch.startswith("resnet") else "last_linear"
    with torch.inference_mode():
        logits = net(x)
        d = logits[:, 1] - logits[:, 0]
        scale = 1.5 / float(d.std())
        for name in ("weight", "bias"):
            tensors[f"{head}.{name}"] = tensors[f"{head}.{name}"] * scale
        tensors[f"{head}.bias"][1] -= scale * float(d.mean())
        getattr(net, head).weight.copy_(tensors[f"{head}.weight"])
        getattr(net, head).bias.copy_(tensors[f"{head}.bias"])
        logits = logits * scale   # the scaled head's logits, without a second forward pass
        logits[:, 1] -= scale * float(d.mean())
        probs = torch.softmax(logits, 1)[:, 1].numpy().reshape(grid.shape)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"))
    return {"folder": folder, "config": config, "net": net, "probs": probs, "grid": grid, "x": x}


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zoo-slide") / "Z.tiff"
    make_slide(path, 40.0, seed=21)
    return path


@pytest.fixture(scope="module")
def zoo(slide_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("zoo")
    folders = {
        "tumor": write_zoo(out / "breast-tumor-resnet34", "resnet34", ["notumor", "tumor"], 100, 64, 1, slide_path),
        "til": write_zoo(out / "lymphocytes-inceptionv4", "inception_v4nobn", ["notils", "tils"], 100, 96, 2,
                         slide_path, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    }
    # the tumour network renamed as a TIL model: a cheap second model for the score-wsi run
    til = _copy(folders["tumor"]["folder"], out / "til-resnet34", class_names=["notils", "tils"])
    folders["til_resnet"] = {**folders["tumor"], "folder": til}
    return folders


@pytest.mark.parametrize("name", ["tumor", "til"])
def test_predictions_equal_a_direct_timm_forward_pass(zoo: dict[str, dict[str, Any]], slide_path: Path,
                                                      name: str) -> None:
    ref = zoo[name]
    model, meta = load_model(ref["folder"])
    assert meta["format"] == "wsinfer-zoo" and meta["patch_px"] == ref["config"]["patch_size_pixels"]
    assert meta["input_px"] == ref["config"]["transform"][0]["arguments"]["size"] and meta["mpp"] == SPACING
    _, info = open_slide(slide_path, "Z")
    grid = ref["grid"]
    meta = {**meta, "positive_index": positive_index(meta, "tumor" if name == "tumor" else "lymphocyte")}
    got = predict_map(model, meta, info, grid, np.ones(grid.shape, bool), case_id="Z", batch=5, workers=1)
    expected = ref["probs"]
    assert float(expected.std()) > 0.1, "the fixture's probabilities should spread over (0, 1)"
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # prepared for the CPU (BatchNorm folded, convolutions fused with their ReLU / residual add), against the
    # eager network computed first on the same patches: logits equal to float32 rounding. This random
    # Inception-v4 without BatchNorm has logits near 60 whose class difference is 1.5 (the head is scaled so),
    # a cancellation that magnifies rounding: there the eager network itself is 1.2e-5 in probability from a
    # float64 forward pass and the prepared one 2.9e-5, so its map is held to 1e-4; ResNet-34's to 1e-5.
    x = ref["x"]
    with torch.inference_mode():
        eager = model(x)
    fast, channels_last = prepare_for_inference(model, "cpu", input_px=meta["input_px"])
    with torch.inference_mode():
        logits = fast(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    assert float((logits - eager).abs().max() / eager.abs().max()) <= 1e-5
    again = predict_map(fast, {**meta, "channels_last": channels_last}, info, grid, np.ones(grid.shape, bool),
                        case_id="Z", batch=5, workers=1)
    assert float(np.abs(again - got).max()) <= (1e-5 if name == "tumor" else 1e-4)


def test_positive_class_by_name_and_one_output_models(zoo: dict[str, dict[str, Any]], slide_path: Path) -> None:
    meta = read_meta(zoo["tumor"]["folder"])
    assert positive_index(meta, "tumor") == 1 and positive_index(meta, "tumor", "notumor") == 0
    assert positive_index(read_meta(zoo["til"]["folder"]), "lymphocyte") == 1
    with pytest.raises(ModelFileError,
                       match=r"no class 'tils' for the tumor map; its classes are \['notumor', 'tumor'\]"):
        positive_index(meta, "tumor", "tils")
    with pytest.raises(ModelFileError, match=r"which class is positive for the lymphocyte map\? .* --til-class"):
        positive_index(meta, "lymphocyte")
    model, meta = load_model(zoo["tumor"]["folder"])
    _, info = open_slide(slide_path, "Z")
    grid = zoo["tumor"]["grid"]
    negative = predict_map(model, {**meta, "positive_index": 0}, info, grid, np.ones(grid.shape, bool), case_id="Z")
    np.testing.assert_allclose(negative, 1.0 - zoo["tumor"]["probs"], atol=2e-5)


def _copy(folder: Path, dest: Path, **changes: Any) -> Path:
    dest.mkdir()
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (dest / "config.json").write_text(json.dumps(config))
    (dest / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    return dest


def test_bad_folders_are_refused_naming_file_and_field(zoo: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    src = zoo["tumor"]["folder"]
    with pytest.raises(ModelFileError, match=r"config.json: unknown spec_version '2.0'; radpath reads \['1.0'\]"):
        read_config(_copy(src, tmp_path / "v2", spec_version="2.0"))
    with pytest.raises(ModelFileError, match=r"unknown architecture 'resnet34x': not a timm .* model name"):
        load_model(_copy(src, tmp_path / "arch", architecture="resnet34x"))
    with pytest.raises(ModelFileError, match=r"tensor 'fc.weight' has shape \(2, 512\), resnet34 with 3 classes "
                                             r"expects \(3, 512\)"):
        load_model(_copy(src, tmp_path / "three", num_classes=3, class_names=["a", "b", "c"]))
    with pytest.raises(ModelFileError, match=r"tensor 'layer1.0.conv1.weight' has shape \(64, 64, 3, 3\), resnet50 "
                                             r"with 2 classes expects \(64, 64, 1, 1\)"):
        load_model(_copy(src, tmp_path / "r50", architecture="resnet50"))   # same names, other shapes
    with pytest.raises(ModelFileError, match=r"tensor 'layer1\.2\.\S+' is not part of resnet18 with 2 classes"):
        load_model(_copy(src, tmp_path / "r18", architecture="resnet18"))   # resnet34 has more blocks
    with pytest.raises(ModelFileError, match=r"names/config.json: 1 class_names for num_classes 2$"):
        read_config(_copy(src, tmp_path / "names", class_names=["tumor"]))
    with pytest.raises(ModelFileError, match=r"config.json: transform.0: Resize: size must be a positive integer "
                                             r"\(square patches\), found \[64, 32\]"):
        read_config(_copy(src, tmp_path / "resize", transform=[{"name": "Resize", "arguments": {"size": [64, 32]}},
                                                                 {"name": "ToTensor"}]))
    with pytest.raises(ModelFileError, match=r"transform.0.name"):
        read_config(_copy(src, tmp_path / "crop", transform=[{"name": "CenterCrop"}, {"name": "ToTensor"}]))
    with pytest.raises(ModelFileError, match=r"spacing_um_px: Input should be greater than 0"):
        read_config(_copy(src, tmp_path / "spacing", spacing_um_px=0))
    missing = _copy(src, tmp_path / "missing")
    from safetensors.torch import load_file

    tensors = load_file(str(missing / "model.safetensors"))
    del tensors["layer4.2.bn2.weight"]
    save_file(tensors, str(missing / "model.safetensors"))
    with pytest.raises(ModelFileError, match=r"tensor 'layer4.2.bn2.weight' of resnet34 with 2 classes is missing"):
        load_model(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"model folder .*empty: no config.json"):
        read_meta(tmp_path / "empty")


def test_torchscript_only_with_trust_model_code(zoo: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    ref = zoo["tumor"]
    folder = tmp_path / "ts"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(ref["config"]))
    torch.jit.trace(ref["net"], ref["x"][:2]).save(str(folder / "torchscript_model.pt"))
    with pytest.raises(ModelFileError, match=r"only torchscript_model.pt, a TorchScript program; loading it runs "
                                             r"code from the file. Pass --trust-model-code"):
        load_model(folder)
    model, meta = load_model(folder, trust_model_code=True)
    assert meta["weights"] == "torchscript_model.pt"
    x = ref["x"][:6]
    with torch.inference_mode():
        np.testing.assert_allclose(model(x).numpy(), ref["net"](x).numpy(), atol=1e-4)


def test_score_wsi_on_zoo_folders_and_models_list(zoo: dict[str, dict[str, Any]], slide_path: Path,
                                                  tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    tumour, til = zoo["tumor"]["folder"], zoo["til_resnet"]["folder"]
    runner = CliRunner()
    result = runner.invoke(build_app(), ["score-wsi", str(slide_path), "--tumor-model", str(tumour), "--til-model",
                                         str(til), "--out", str(tmp_path / "maps"), "--db", str(db), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "maps" / "slides" / "Z" / "tumor.npy")
    ref = zoo["tumor"]["probs"]
    assert saved.shape == ref.shape
    scored = ~np.isnan(saved)
    assert scored.sum() >= 3
    np.testing.assert_allclose(saved[scored], ref[scored], atol=2e-5)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM pathology_scores").fetchone() == (1,)
    result = runner.invoke(build_app(), ["models", "list", "--db", str(db), "--csv", str(tmp_path / "m.csv")])
    assert result.exit_code == 0, result.output
    import pandas as pd

    listed = pd.read_csv(tmp_path / "m.csv")
    assert listed["role"].tolist() == ["lymphocyte", "tumor"]
    assert listed["hash"].tolist() == [model_hash(til), model_hash(tumour)]
    assert listed["positive_class"].tolist() == ["tils", "tumor"] and listed["runs"].tolist() == [1, 1]
    assert listed["format"].tolist() == ["wsinfer-zoo"] * 2 and listed["arch"].tolist() == ["resnet34"] * 2
    result = runner.invoke(build_app(), ["models", "show", str(tumour)])
    assert result.exit_code == 0, result.output
    assert "resnet34" in result.output and "100 px at 1.0 um/px (100 um)" in result.output
    assert model_hash(tumour) in result.output and "every tensor's shape checked" in result.output


def test_score_wsi_refuses_an_ambiguous_positive_class(zoo: dict[str, dict[str, Any]], slide_path: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = _copy(zoo["tumor"]["folder"], tmp_path / "odd", class_names=["benign", "malignant"])
    db = tmp_path / "w.duckdb"
    with pytest.raises(SystemExit) as exit_info:
        main(["score-wsi", str(slide_path), "--tumor-model", str(odd), "--til-model", str(zoo["til_resnet"]["folder"]),
              "--out", str(tmp_path / "maps"), "--db", str(db)])
    assert exit_info.value.code == 2
    assert "which class is positive for the tumor map? Its classes are ['benign', 'malignant']; name one with " \
           "--tumor-class" in capsys.readouterr().err
    result = CliRunner().invoke(build_app(), [
        "score-wsi", str(slide_path), "--tumor-model", str(odd), "--tumor-class", "malignant",
        "--til-model", str(zoo["til_resnet"]["folder"]), "--out", str(tmp_path / "maps"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT count(*) FROM runs WHERE command = 'score-wsi'").fetchone()
    assert runs == (1,)   # the refused call recorded no run


class _OffsetNet(torch.nn.Module):
    """A network with a buffer it computes when built and does not save (as Swin's relative position index):
    the output adds 0, 1, ..., k-1 to the k logits."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, num_classes)
        self.register_buffer("offset", torch.arange(float(num_classes)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.bn(self.conv(x)).mean((2, 3))) + self.offset
        return out


def test_buffers_a_network_computes_when_built_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from radpath.pathology import zoo

    monkeypatch.setitem(zoo.EXTRA_ARCHITECTURES, "offset_net", _OffsetNet)
    torch.manual_seed(3)
    net = _OffsetNet(3).eval()
    folder = tmp_path / "offset"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "spec_version": "1.0", "architecture": "offset_net", "num_classes": 3, "class_names": ["a", "b", "tumor"],
        "patch_size_pixels": 16, "spacing_um_px": 1.0,
        "transform": [{"name": "Resize", "arguments": {"size": 16}}, {"name": "ToTensor"}]}))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    model, _ = load_model(folder)
    assert model.offset.tolist() == [0.0, 1.0, 2.0]   # built on the meta device it would be lost (zeros)
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.equal(model(x), net(x))
