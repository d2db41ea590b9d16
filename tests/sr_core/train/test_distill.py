"""sr-core-train distill: the feature-distillation loop, its views, its output file and its refusals.

Most tests use a tiny VMamba student and a randomly initialised teacher (`teacher_init="random"`),
so they run without the ImageNet package; one checks the real ImageNet teacher where it is there.
"""

from __future__ import annotations

import importlib.util
import logging

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from sr_core.cli.train import main
from sr_core.models import create_model
from sr_core.models.pretrained import IMAGENET_PACKAGES, InitError, cache_dir, initialise
from sr_core.train.distill import (
    DistillAugment,
    DistillConfig,
    DistillError,
    PairedViews,
    bank_device,
    build_distiller,
    build_optimizer,
    distill,
)

TINY = {"dims": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "drop_path_rate": 0.0}


def tiny_config(**changes) -> DistillConfig:
    fields = dict(student_overrides=TINY, teacher_init="random", epochs=2, batch_size=4, input_size=32, device="cpu")
    return DistillConfig(**{**fields, **changes})


def write_images(folder, count: int, seed: int = 0, size: int = 40) -> list:
    """Grey PNGs of smooth random blobs (structure a network can learn), size x size."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        noise = rng.random((size // 4, size // 4)).astype(np.float32)
        image = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        path = folder / f"image_{i:02d}.png"
        cv2.imwrite(str(path), np.clip(image * 255, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def test_the_loss_decreases_over_steps_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = tiny_config(lr=3e-3)
    distiller = build_distiller(cfg)
    optimizer = build_optimizer(distiller, cfg)
    views = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    views = torch.nn.functional.avg_pool2d(views, 3, 1, 1)  # some spatial structure
    losses = []
    for _ in range(40):
        loss = distiller(views).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses[::5]
    teacher_grads = [p.grad for p in distiller.teacher.parameters()]
    assert all(g is None for g in teacher_grads) and not distiller.teacher.training


def test_a_view_without_crop_or_jitter_is_the_image_mirrored():
    bank = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    plain = DistillAugment(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, brightness=0.0, contrast=0.0, gamma=(1.0, 1.0))
    views = PairedViews(plain, torch.Generator().manual_seed(0))(bank)
    assert views.shape == (3, 1, 32, 32)
    torch.testing.assert_close(views[:, 0], bank.flip(-1).float() / 255, atol=1e-5, rtol=0)
    cropped = PairedViews(DistillAugment(), torch.Generator().manual_seed(0))(bank)
    assert cropped.shape == (3, 1, 32, 32) and 0.0 <= cropped.min() and cropped.max() <= 1.0
    assert not torch.allclose(cropped, views)


def test_the_output_loads_through_initialise_with_every_backbone_tensor_mapped(tmp_path, caplog):
    images = write_images(tmp_path / "a", 6)
    write_images(tmp_path / "b" / "nested", 2, seed=1)
    (tmp_path / "b" / "copy.png").write_bytes(images[0].read_bytes())  # the same bytes: counted once
    (tmp_path / "b" / "labels.csv").write_text("never,read\n")
    out = tmp_path / "backbone.safetensors"
    with caplog.at_level(logging.INFO, logger="sr_core.train.distill"):
        result = distill([tmp_path / "a", tmp_path / "b", tmp_path / "a"], out, tiny_config())
    assert (result.images, result.duplicates, result.skipped) == (8, 1, 0)
    epoch_lines = [r.getMessage() for r in caplog.records if "distill epoch" in r.getMessage()]
    assert len(epoch_lines) == 2 and "s8" in epoch_lines[-1] and "img/s" in epoch_lines[-1]
    with safe_open(str(out), "pt") as fh:
        meta = fh.metadata()
        assert all(fh.get_tensor(k).dtype == torch.float32 for k in fh.keys())
    assert meta["student"] == "sr_vmamba_nano" and meta["images"] == "8" and meta["epochs"] == "2"
    assert meta["epochs_done"] == meta["epochs"]  # written after every epoch; the last one says all ran
    assert meta["seed"] == "0" and float(meta["final_loss"]) == pytest.approx(result.final_loss, rel=1e-5)
    assert "lite0" in meta["teacher"]
    model = create_model("sr_vmamba_nano", **TINY)
    report = initialise(model, str(out))
    assert report.missing == [] and report.unexpected == []
    assert sorted(report.mapped) == sorted(model.backbone.state_dict())
    with safe_open(str(out), "pt") as fh:
        torch.testing.assert_close(model.backbone.state_dict()["patch_embed.conv1.weight"],
                                   fh.get_tensor("patch_embed.conv1.weight"))


def test_an_own_names_file_with_a_wrong_shape_is_a_one_line_error(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in create_model("sr_vmamba_nano", **TINY).backbone.state_dict().items()}
    state["norm.weight"] = torch.ones(7)
    save_file(state, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(InitError, match=r"norm.weight has shape \(7,\), the model's norm.weight \(64,\)"):
        initialise(create_model("sr_vmamba_nano", **TINY), str(tmp_path / "wrong.safetensors"))


def test_an_unreadable_image_is_one_line_naming_it_and_the_run_carries_on(tmp_path, caplog):
    write_images(tmp_path / "in", 4)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with caplog.at_level(logging.WARNING, logger="sr_core.train.distill"):
        result = distill([tmp_path / "in"], tmp_path / "out.safetensors", tiny_config(epochs=1))
    assert (result.images, result.skipped) == (4, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "broken.png" in warnings[0] and "\n" not in warnings[0]
    assert (tmp_path / "out.safetensors").is_file()


def test_an_existing_output_is_refused_without_force(tmp_path):
    write_images(tmp_path / "in", 4)
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(DistillError, match="exists; use --force"):
        distill([tmp_path / "in"], out, tiny_config(epochs=1))
    assert out.read_bytes() == b"keep me"
    distill([tmp_path / "in"], out, tiny_config(epochs=1), force=True)
    assert out.read_bytes() != b"keep me"
    with pytest.raises(DistillError, match="is a folder"):
        distill([tmp_path / "in"], tmp_path / "in", tiny_config(epochs=1), force=True)
    with pytest.raises(DistillError, match="is one of the inputs"):  # even with force
        distill([tmp_path / "in"], out, tiny_config(epochs=1, teacher_init=str(out)), force=True)
    image = tmp_path / "in" / "image_00.png"
    with pytest.raises(DistillError, match="is one of the inputs"):
        distill([tmp_path / "in"], image, tiny_config(epochs=1), force=True)


def test_the_cli_runs_end_to_end_and_a_wrong_command_line_is_status_2(tmp_path, capsys):
    write_images(tmp_path / "in", 4)
    out = tmp_path / "nano.safetensors"
    common = ["distill", "--images", str(tmp_path / "in"), "--out", str(out), "--teacher-init", "random",
              "--input-size", "32", "--batch", "4", "--device", "cpu"]
    assert main([*common, "--epochs", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: sr_vmamba_nano backbone")
    assert initialise(create_model("sr_vmamba_nano"), str(out)).missing == []
    assert main([*common, "--epochs", "1"]) == 1  # the output exists now
    assert capsys.readouterr().err.strip().endswith("exists; use --force to replace it")
    for wrong in (["--epochs", "0"], ["--input-size", "48"], ["--model", "sr_nothing"], ["--teacher", "lite9"]):
        assert main([*common, *wrong]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sr-core-train: usage error:") and "\n" not in err
    assert main(["distill", "--out", str(out)]) == 2
    assert main(["distill", "--images", str(tmp_path / "absent"), "--out", str(tmp_path / "x.safetensors")]) == 1
    assert "absent" in capsys.readouterr().err


def _imagenet_available() -> bool:
    module = IMAGENET_PACKAGES["lite0"][0]
    cached = cache_dir() / f"{IMAGENET_PACKAGES['lite0'][2]}.safetensors"
    return cached.is_file() or importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _imagenet_available(), reason="no ImageNet EfficientNet-Lite0 file (package or cache)")
def test_the_imagenet_teacher_stays_frozen_and_gives_maps_at_the_students_strides():
    cfg = tiny_config(teacher_init="imagenet")
    distiller = build_distiller(cfg)
    before = {k: v.clone() for k, v in distiller.teacher.state_dict().items()}
    views = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    ours, theirs = distiller._features(views)
    assert [t.shape[1:] for t in theirs] == [(40, 8, 8), (112, 4, 4), (320, 2, 2)]
    assert [s.shape[-2:] for s in ours] == [t.shape[-2:] for t in theirs]
    optimizer = build_optimizer(distiller, cfg)
    distiller(views).mean().backward()
    optimizer.step()
    after = distiller.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics alike


def test_the_image_bank_goes_to_the_gpu_only_when_it_fits_a_quarter_of_its_free_memory():
    cuda = torch.device("cuda")
    assert bank_device(10**9, cuda, free_bytes=8 * 10**9) == cuda
    assert bank_device(3 * 10**9, cuda, free_bytes=8 * 10**9) == torch.device("cpu")
    assert bank_device(10**12, torch.device("cpu")) == torch.device("cpu")
