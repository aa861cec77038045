"""Inception-v4 patch classifier: published size, shapes, the input-size floor, training and model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radpath.errors import ConfigError, ModelFileError
from radpath.pathology.models import read_meta
from radpath.pathology.til.inception import MIN_INPUT_PX, InceptionV4
from radpath.pathology.til.nets import ARCHITECTURES, build, load_model, save_classifier
from radpath.pathology.til.train import TrainConfig, train_classifier

# Published size of Inception-v4 (Szegedy et al. 2016, arXiv:1602.07261) with its 1000-class ImageNet head:
# 42.7 M parameters, "Params (M): 42.7" on the timm model card https://huggingface.co/timm/inception_v4.tf_in1k
# (the TensorFlow authors' weights ported via Cadene's pretrained-models.pytorch).
PUBLISHED_PARAMS = 42.7e6


def test_full_width_parameter_count_matches_the_published_network() -> None:
    model = InceptionV4(width=64, n_classes=1000)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - PUBLISHED_PARAMS) / PUBLISHED_PARAMS < 0.01, n
    assert model.features == 1536
    # the registry's network is the same one with the 2-class head
    two_class = sum(p.numel() for p in build("inception_v4").parameters())
    assert two_class == n - 998 * (1536 + 1)


def test_width_scales_every_layer_with_a_floor() -> None:
    assert "inception_v4" in ARCHITECTURES
    assert InceptionV4(width=32).features == 768      # half the paper's 1536
    assert InceptionV4(width=4).features == 6 * 16    # 256 channels per Inception-C branch / 16
    assert InceptionV4(width=1).features == 6 * 4     # floor of 4 channels per convolution
    with pytest.raises(ConfigError):
        InceptionV4(width=0)


def test_forward_at_299_px_gives_two_logits_and_the_papers_grid() -> None:
    model = build("inception_v4", width=8).eval()
    x = torch.randn(2, 3, 299, 299)
    with torch.inference_mode():
        assert model(x).shape == (2, 2)
        grid = model.backbone[:-2](x)          # before global pooling: 8 x 8 as in the paper's Fig. 9
    assert grid.shape[-2:] == (8, 8)


def test_inputs_below_the_minimum_size_are_refused_clearly() -> None:
    model = build("inception_v4", width=4).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, MIN_INPUT_PX, MIN_INPUT_PX)).shape == (1, 2)
        with pytest.raises(ConfigError, match=f"at least {MIN_INPUT_PX}"):
            model(torch.randn(1, 3, MIN_INPUT_PX - 1, MIN_INPUT_PX))


def _tiny_patches(root: Path, per_class: int = 8, px: int = 80) -> Path:
    rng = np.random.default_rng(0)
    for label, level in (("negative", 200), ("positive", 60)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(level, 30, (px, px, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_one_training_step_and_model_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build("inception_v4", width=4)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x, y = torch.randn(4, 3, 139, 139), torch.tensor([0, 1, 0, 1])   # 139 px: a 3 x 3 grid after Reduction-B
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    meta = {"task": "tumor", "arch": "inception_v4", "arch_kwargs": {"width": 4}, "input_px": 139, "patch_px": 350,
            "mpp": 0.25, "classes": ["negative", "positive"], "mean": [0.5] * 3, "std": [0.2] * 3}
    path = save_classifier(tmp_path / "inception.safetensors", model, meta)
    loaded, read = load_model(path, "tumor", input_px=139)
    assert read["arch"] == "inception_v4"
    model.eval()
    with torch.inference_mode():
        expected = model(x)
        assert torch.isfinite(expected).all()
        assert torch.allclose(loaded(x), expected)
    # weights labelled with another width do not fit and are refused
    save_classifier(tmp_path / "wrong.safetensors", model, {**meta, "arch_kwargs": {"width": 8}})
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(tmp_path / "wrong.safetensors", "tumor")


def test_train_til_path_with_inception_v4(tmp_path: Path) -> None:
    data = _tiny_patches(tmp_path / "patches")
    px = 139   # patches are resized to the network input; 139 px leaves a 3 x 3 grid after Reduction-B
    config = TrainConfig(task="tumor", arch="inception_v4", width=4, input_px=px, epochs=1, batch=16)
    meta = train_classifier(data, config, tmp_path / "m.safetensors")   # 12 training patches: one SGD step
    assert meta["arch"] == "inception_v4" and meta["input_px"] == px
    assert meta["metrics"]["n_val"] == 4 and 0.0 <= meta["metrics"]["accuracy"] <= 1.0
    assert read_meta(tmp_path / "m.safetensors")["arch_kwargs"] == {"width": 4}
    model, _ = load_model(tmp_path / "m.safetensors", "tumor", input_px=px)
    with torch.inference_mode():
        logits = model(torch.rand(3, 3, px, px))
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    # the CLI's small default input size is too small for this network: a clear error, not a torch traceback
    with pytest.raises(ConfigError, match="--input-px"):
        train_classifier(data, TrainConfig(task="tumor", arch="inception_v4", width=4, input_px=48, epochs=1),
                         tmp_path / "small.safetensors")
