"""sr-core-train: the smoke config end to end, export, bit-identical resume after SIGKILL,
DDP with two CPU processes (gloo), configuration and failure messages."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from sr_core.checkpoint import load_weights
from sr_core.cli.eval import main as eval_main
from sr_core.cli.train import main
from sr_core.train.config import ConfigError, load_config, parse_override

QUIET = ["--set", "output.progress=false"]


def model_tensors(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "smoke"
    assert main(["--config", "smoke", "--out", str(out), "--set", "train.epochs=3"] + QUIET) == 0
    return out


def test_smoke_run_writes_everything_a_run_needs(smoke_run):
    for name in ("config.toml", "metrics.jsonl", "training.png", "checkpoints/last.safetensors",
                 "checkpoints/best.safetensors", "val_epoch003.json"):
        assert (smoke_run / name).is_file(), name
    records = [json.loads(line) for line in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    vals = [r for r in records if r["kind"] == "val"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3] and [r["epoch"] for r in vals] == [1, 2, 3]
    assert set(epochs[0]["losses"]) == {"total", "ce", "ce_fpm", "control", "area", "abnormal"}
    assert epochs[-1]["losses"]["total"] < epochs[0]["losses"]["total"]
    assert all(0 <= v["gt_known_iou_0.1"] <= 1 and 0 <= v["auc_mean"] <= 1 for v in vals)
    assert all(e["images_per_s"] > 0 for e in epochs)
    assert all(e["logit_spread"] > 1e-3 for e in epochs)  # the head is alive: no dead-head warning
    timing = [r for r in records if r["kind"] == "timing"]
    assert [r["epoch"] for r in timing] == [1, 2, 3]
    assert all(r["validation_seconds"] > 0 and r["checkpoint_seconds"] > 0 for r in timing)
    resolved = load_config(str(smoke_run / "config.toml"))
    assert resolved.train.epochs == 3 and resolved.model.overrides["dims"] == [8, 16, 32, 64]


def test_export_gives_release_weights_that_the_tools_load(smoke_run, tmp_path, capsys):
    out = tmp_path / "release.safetensors"
    assert main(["export", str(smoke_run), "--out", str(out), "--fp16"]) == 0
    model, meta = load_weights(out)
    assert meta["dtype"] == "float16" and len(meta["class_names"]) == 8
    assert 0 <= meta["default_threshold"] <= 1 and meta["provenance"]["epoch"] >= 1
    assert "train_samples" in meta["provenance"]["data"] and meta["metrics"]["validation"]["kind"] == "val"
    assert set(meta["operating_points"]) <= set(meta["class_names"]) and meta["operating_points"]
    assert all(0 <= v <= 1 for v in meta["operating_points"].values())
    card = out.with_suffix(".md").read_text()
    assert "Model card" in card and "not for diagnosis" in card and "Youden" in card
    report_dir = tmp_path / "eval"
    assert eval_main(["--weights", str(out), "--data", str(smoke_run / "synthetic"), "--out", str(report_dir),
                      "--no-progress"]) == 0
    assert json.loads((report_dir / "report.json").read_text())["n_images"] > 0


def _train_cmd(out, *extra):
    return [sys.executable, "-m", "sr_core.cli.train", "--config", "smoke", "--deterministic", "--out", str(out),
            "--set", "train.epochs=3", "--set", "checkpoint.every_steps=2", *QUIET, *extra]


def test_sigkill_at_an_arbitrary_moment_then_resume_ends_with_identical_weights(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_train_cmd(whole), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(_train_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3 + (os.getpid() % 7) / 10)  # somewhere inside a later step
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), "the run ended before its first checkpoint"
    resumed = subprocess.run(_train_cmd(killed, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = model_tensors(whole / "checkpoints" / "last.safetensors"), model_tensors(last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # nothing logged twice after the resume


def test_ddp_with_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sr_core.cli.train", "--config", "smoke", "--out", str(out), "--set", "train.epochs=2",
           "--set", "train.batch_size=4", *QUIET]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Grad strides do not match" not in result.stderr  # DDP's layout warning, unactionable
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["epoch", "val", "timing"] * 2  # rank 0 logs, once
    # Two processes of batch 4 take the steps one process of batch 8 takes.
    images = load_config("smoke").data.synthetic_per_class * 8
    assert records[0]["step"] == images // 8
    progress = json.loads(load_file_metadata(out / "checkpoints" / "last.safetensors"))["progress"]
    assert progress["hardware"].endswith("2 process(es)")


def load_file_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()["sr_train_state"]


def test_overrides_and_config_errors(tmp_path, capsys):
    assert parse_override("train.lr=3e-4") == ("train.lr", 3e-4)
    assert parse_override("model.name=sr_resnet50") == ("model.name", "sr_resnet50")
    cfg = load_config("nih-tiny", ["train.batch_size=32", "model.overrides.modulation=false"])
    assert cfg.train.batch_size == 32 and cfg.model.overrides == {"modulation": False}
    with pytest.raises(ConfigError, match="unknown key 'train.lrr'"):
        load_config("smoke", ["train.lrr=1"])
    with pytest.raises(ConfigError, match="train.epochs must be int"):
        load_config("smoke", ["train.epochs=many"])
    assert main(["--config", "no-such-preset"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=1")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("sr-core-train: usage error") for line in err) and "bad.toml" in err[-1]


def test_every_preset_loads_and_names_a_registered_model():
    from sr_core.models import list_models
    from sr_core.train.config import list_presets

    assert {"nih-lite0", "nih-hybrid", "nih-nano-distill"} <= set(list_presets())
    for name in list_presets():
        assert load_config(name).model.name in list_models(), name
    # The distilled VMamba's preset starts from the file the distillation's documented --out writes.
    assert load_config("nih-nano-distill").model.init == "runs/distill/sr_vmamba_nano.safetensors"


@pytest.mark.parametrize("model", ["smoke", "sr_efficientnet_lite0"])
def test_a_frozen_backbone_keeps_its_start_then_learns(tmp_path, model):
    # LP-FT: during train.freeze_backbone_epochs only the head learns; the backbone keeps the
    # file it started from exactly (BatchNorm statistics included: Lite0 has them), and learns
    # afterwards.
    from safetensors.torch import save_file

    from sr_core.models import create_model

    sets = [] if model == "smoke" else ["--set", f'model.name="{model}"', "--set", "model.overrides={}"]
    cfg = load_config("smoke", [s for s in sets if s != "--set"])
    start = create_model(cfg.model.name, **cfg.model.overrides).backbone.state_dict()
    init = tmp_path / "start.safetensors"
    save_file({k: v.contiguous() for k, v in start.items()}, str(init))

    def backbone_after(epochs: int, frozen: int) -> dict:
        out = tmp_path / f"run{epochs}_{frozen}"
        assert main(["--config", "smoke", "--out", str(out), "--set", f"train.epochs={epochs}",
                     "--set", f"train.freeze_backbone_epochs={frozen}", "--set", f'model.init="{init}"',
                     "--set", "eval.every_epochs=0", *sets] + QUIET) == 0
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["backbone_frozen"] for r in records if r["kind"] == "epoch"] == [e < frozen for e in range(epochs)]
        tensors = model_tensors(out / "checkpoints" / "last.safetensors")
        return {k.removeprefix("model.backbone."): v for k, v in tensors.items() if k.startswith("model.backbone.")}

    frozen = backbone_after(1, 1)
    assert frozen.keys() == start.keys()
    assert all(torch.equal(frozen[k], start[k]) for k in start)
    learned = backbone_after(2, 1)
    assert any(not torch.equal(learned[k], start[k]) for k in start if start[k].is_floating_point())


def test_missing_data_and_nan_loss_stop_with_one_line(tmp_path, capsys):
    assert main(["--config", "nih-nano", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "r")]) == 1
    assert "absent" in capsys.readouterr().err
    status = main(["--config", "smoke", "--out", str(tmp_path / "nan"), "--set", "optim.lr=1e30",
                   "--set", "train.epochs=1", *QUIET])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and "NaN or infinite at step" in err[-1] and "Traceback" not in "\n".join(err)


def test_localisation_terms_start_after_a_ce_only_phase_then_ramp(tmp_path):
    from sr_core.train.trainer import Trainer

    cfg = load_config("smoke", ["train.fpm_start_epochs=2", "train.fpm_warmup_epochs=4"])
    trainer = Trainer(cfg, tmp_path)
    trainer.steps_per_epoch = 10
    ramps = []
    for step in (0, 19, 20, 30, 40, 60, 100):
        trainer.progress = {"global_step": step}
        ramps.append(trainer.fpm_ramp())
    assert ramps == [0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


def test_train_splits_join_extra_label_splits_in_the_first_splits_class_order(tmp_path):
    from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD
    from sr_core.data.phantoms import write_phantom_dataset
    from sr_core.train.data import build_train_loader

    names = ["Atelectasis", "Mass"]
    write_phantom_dataset(tmp_path, 3, 32, seed=2, class_names=names, n_test_per_class=1, n_val_per_class=2)
    cfg = load_config("smoke", [f"data.root={json.dumps(str(tmp_path))}", "data.workers=0"])
    _, sampler, only_train = build_train_loader(cfg, tmp_path, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    assert len(only_train) == 6 and sampler.n == 6
    cfg = load_config("smoke", [f"data.root={json.dumps(str(tmp_path))}", "data.workers=0",
                                'data.train_splits=["train", "val"]'])
    _, sampler, both = build_train_loader(cfg, tmp_path, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    assert len(both) == 10 and sampler.n == 10 and both.class_names == names
    assert sorted(both.targets) == [0] * 5 + [1] * 5
    assert {p.parent.parent.name for p, _ in both.samples} == {"train", "val"} and both.split == "train+val"
    assert len(both.targets) == len(both.samples)
    label = both[9][1]
    assert label == both.targets[9]
    with pytest.raises(ConfigError, match="train_splits"):
        build_train_loader(load_config("smoke", ["data.train_splits=[]", "data.workers=0"]), tmp_path,
                           IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)


def test_a_dead_head_is_named_in_one_warning(caplog):
    from sr_core.train.trainer import check_head_alive

    with caplog.at_level("WARNING"):
        assert check_head_alive(3, 0.2) and check_head_alive(3, float("nan"))
        assert not caplog.records
        assert not check_head_alive(7, 3e-4)
    assert len(caplog.records) == 1 and "epoch 7" in caplog.text and "optim.lr" in caplog.text


def test_validation_uses_the_configured_split(tmp_path):
    import shutil

    from sr_core.data.phantoms import write_phantom_dataset
    from sr_core.train.trainer import Trainer

    data = tmp_path / "data"
    write_phantom_dataset(data, 3, 32, seed=2, class_names=["Atelectasis", "Mass"], n_test_per_class=1)
    shutil.copytree(data / "test", data / "holdout")
    for kind in ("list", "gt"):
        shutil.copy(data / f"test_{kind}.txt", data / f"holdout_{kind}.txt")
    root = [f"data.root={json.dumps(str(data))}", "data.workers=0", "train.batch_size=2"]
    for split, rows in (("holdout", 2), ("absent", None)):
        trainer = Trainer(load_config("smoke", [*root, f'data.val_split="{split}"']), tmp_path / split)
        trainer._setup_device()
        trainer._setup_data()
        if rows is None:
            assert trainer.val_set is None  # no validation with boxes, said in one warning
        else:
            assert trainer.val_set.split == split and len(trainer.val_set) == rows


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_an_epoch_bar_a_log_gets_one_line_per_epoch_and_the_summary_names_the_metric(
        tmp_path, capsys, caplog, monkeypatch):
    small = ["--config", "smoke", "--set", "data.synthetic_per_class=4", "--set", "train.batch_size=8"]
    with caplog.at_level(logging.INFO, logger="sr_core.train.trainer"):
        # stderr captured by pytest: not a terminal, so no bar, one log line per epoch.
        assert main([*small, "--out", str(tmp_path / "log"), "--set", "train.epochs=2"]) == 0
        captured = capsys.readouterr()
        epoch_lines = [r.getMessage() for r in caplog.records if ": loss " in r.getMessage()]
        assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
        assert all(k in epoch_lines[0] for k in ("ce ", "ce_fpm ", "control ", "area ", "img/s", "ETA "))
        assert "\r" not in captured.err and "step/s" not in captured.err
        records = [json.loads(line) for line in (tmp_path / "log" / "metrics.jsonl").read_text().splitlines()]
        vals = [r for r in records if r["kind"] == "val"]
        best = max(vals, key=lambda r: r["selection_metric"])  # the first of equals, as the trainer keeps
        summary = captured.out.strip().splitlines()[-1]
        assert summary.startswith("done: 2 epochs") and best["selection_name"] in summary
        assert best["selection_name"].startswith("GT-known IoU>0.1 class mean at the best map threshold")
        assert (f"{best['selection_metric']:.3f} at epoch {best['epoch']}, "
                f"{tmp_path / 'log' / 'checkpoints' / 'best.safetensors'}") in summary

        caplog.clear()
        monkeypatch.setattr(sys, "stderr", _Terminal())
        assert main([*small, "--out", str(tmp_path / "tty"), "--set", "train.epochs=1"]) == 0
        bar = sys.stderr.getvalue()
        assert "epoch 1/1" in bar and "img/s=" in bar and "ce_fpm=" in bar and "<" in bar  # < ETA
        assert not [r for r in caplog.records if ": loss " in r.getMessage()]

        monkeypatch.setattr(sys, "stderr", _Terminal())
        assert main([*small, "--out", str(tmp_path / "quiet"), "--set", "train.epochs=1", "--quiet"]) == 0
        assert "step/s" not in sys.stderr.getvalue()
        assert [r.getMessage().split(":")[0] for r in caplog.records if ": loss " in r.getMessage()] == ["epoch 1/1"]
