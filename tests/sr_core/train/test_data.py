"""data.device_augment: the batches made on the device equal the worker path's, resume included."""

import json

import pytest
import torch

from sr_core.cli.train import main
from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from sr_core.data.phantoms import write_phantom_dataset
from sr_core.train.config import ConfigError, load_config
import shutil

from sr_core.data.datasets import NEGATIVE
from sr_core.train.data import DeviceAugmentedBatches, build_train_loader


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(root, 5, 40, seed=3, class_names=["Atelectasis", "Mass"], n_test_per_class=1)
    return root


def loaders(root, *extra):
    sets = [f"data.root={json.dumps(str(root))}", "data.workers=0", "data.input_size=32", "train.batch_size=4", *extra]
    cpu, sampler_cpu, _ = build_train_loader(load_config("smoke", sets), root, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    dev, sampler_dev, _ = build_train_loader(load_config("smoke", [*sets, "data.device_augment=true"]), root,
                                             IMAGENET_MEAN, IMAGENET_STD, 0, 1, False, torch.device("cpu"))
    return (cpu, sampler_cpu), (dev, sampler_dev)


@pytest.mark.parametrize("augment", [[], ["augment.crop=false"], ["augment.intensity=false", "augment.flip=false"]])
def test_device_batches_equal_the_worker_batches(root, augment):
    (cpu, sampler_cpu), (dev, sampler_dev) = loaders(root, *augment)
    assert isinstance(dev, DeviceAugmentedBatches) and len(dev) == len(cpu) == 2
    for epoch in (0, 3):
        sampler_cpu.set_epoch(epoch)
        sampler_dev.set_epoch(epoch)
        pairs = list(zip(cpu, dev, strict=True))
        assert len(pairs) == 2
        for (a, la), (b, lb) in pairs:
            assert a.shape == b.shape == (4, 3, 32, 32)
            torch.testing.assert_close(b, a, atol=2e-5, rtol=0)
            assert torch.equal(la, lb)


def test_device_batches_resume_mid_epoch_on_the_same_batch(root):
    _, (dev, sampler) = loaders(root)
    sampler.set_epoch(2)
    full = list(dev)
    sampler.set_epoch(2, skip_samples=4)
    resumed = list(dev)
    assert len(resumed) == 1 and torch.equal(resumed[0][0], full[1][0])


def test_a_run_with_device_augment_trains_and_validates(tmp_path):
    out = tmp_path / "run"
    assert main(["--config", "smoke", "--out", str(out), "--set", "train.epochs=1", "--set", "output.progress=false",
                 "--set", "data.device_augment=true", "--set", "data.synthetic_per_class=4",
                 "--set", "train.batch_size=8"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "epoch" for r in records) and any(r["kind"] == "val" for r in records)


def with_normal_split(root, tmp_path):
    """A copy of the phantom layout with a negatives split ROOT/normal/No Finding/ of 6 images."""
    copy = tmp_path / "layout"
    shutil.copytree(root, copy, symlinks=True)
    folder = copy / "normal" / "No Finding"
    folder.mkdir(parents=True)
    sources = sorted((copy / "train").rglob("*.png"))[:6]
    for i, path in enumerate(sources):
        shutil.copy(path, folder / f"normal_{i}.png")
    return copy


def test_negative_splits_join_as_negatives_with_their_share_of_the_draws(root, tmp_path):
    layout = with_normal_split(root, tmp_path)
    sets = [f"data.root={json.dumps(str(layout))}", "data.workers=0", "data.input_size=32", "train.batch_size=4",
            "data.balance_classes=true", 'data.negative_splits=["normal"]', "data.negative_fraction=0.5"]
    _, sampler, base = build_train_loader(load_config("smoke", sets), layout, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    assert base.class_names == ["Atelectasis", "Mass"]  # the negatives are no class
    assert base.negative_count == 6 and base.class_counts() == [5, 5]
    positives = len(base) - 6
    assert sampler.draws == 2 * positives  # the positives keep their number of draws
    drawn = [base.targets[i] for _, i in sampler]
    assert len(drawn) == 2 * positives
    assert 0.25 < drawn.count(NEGATIVE) / len(drawn) < 0.75


def test_a_run_with_negatives_needs_the_abnormal_term_and_trains_with_it(root, tmp_path):
    layout = with_normal_split(root, tmp_path)
    common = ["--config", "smoke", "--data", str(layout), "--set", "train.epochs=1", "--set", "output.progress=false",
              "--set", "train.batch_size=4", "--set", 'data.negative_splits=["normal"]', "--set", "data.workers=0"]
    assert main([*common, "--out", str(tmp_path / "refused")]) != 0
    out = tmp_path / "run"
    assert main([*common, "--out", str(out), "--set", "model.overrides.abnormal_weight=1.0"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch = next(r for r in records if r["kind"] == "epoch")
    assert epoch["losses"]["abnormal"] > 0


def nih_named_layout(root, tmp_path):
    """The phantom layout renamed as NIH names it (<patient>_<follow-up>.png): 12 patients, 2 images
    each (one a finding, so each patient's images span both classes), plus a No Finding split with
    a third image of every patient."""
    copy = tmp_path / "nih_named"
    shutil.copytree(root, copy)
    sources = sorted((root / "train").rglob("*.png"))
    for path in (copy / "train").rglob("*.png"):
        path.unlink()
    for i in range(24):
        patient, follow_up = i // 2, i % 2
        finding = ["Atelectasis", "Mass"][follow_up]
        shutil.copy(sources[i % len(sources)], copy / "train" / finding / f"{patient:08d}_{follow_up:03d}.png")
    (copy / "normal" / "No Finding").mkdir(parents=True)
    for patient in range(12):
        shutil.copy(sources[0], copy / "normal" / "No Finding" / f"{patient:08d}_002.png")
    return copy


def subset(layout, *extra):
    sets = [f"data.root={json.dumps(str(layout))}", "data.workers=0", "data.input_size=32", "train.batch_size=2",
            'data.negative_splits=["normal"]', *extra]
    _, sampler, base = build_train_loader(load_config("smoke", sets), layout, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    by_patient = {}
    for path, label in base.samples:
        by_patient.setdefault(path.name.split("_")[0], set()).add(label)
    return base, sampler, by_patient


def test_train_fraction_keeps_whole_patients_nested_by_seed(root, tmp_path):
    layout = nih_named_layout(root, tmp_path)
    full, _, everyone = subset(layout)
    assert len(full) == 36 and len(everyone) == 12
    half, sampler, kept = subset(layout, "data.train_fraction=0.5")
    assert 0 < len(kept) < 12
    # Every kept patient brings all three images: both findings and the No Finding one.
    assert all(labels == {0, 1, NEGATIVE} for labels in kept.values())
    assert len(half) == 3 * len(kept) and half.negative_count == len(kept)
    # An epoch is as long as the full data's (24 positives, negatives a quarter of the draws).
    assert sampler.draws == round(24 / 0.75) == len(list(sampler))
    drawn = [half.targets[i] for _, i in sampler]
    assert 0.1 < drawn.count(NEGATIVE) / len(drawn) < 0.4
    quarter = subset(layout, "data.train_fraction=0.25")[2]
    assert set(quarter) <= set(kept)  # one seed: the smaller share is inside the larger
    other = subset(layout, "data.train_fraction=0.5", "data.subset_seed=1")[2]
    assert set(other) != set(kept)


def test_train_fraction_without_negatives_passes_over_the_subset_as_often_as_the_full_epoch_needs(root, tmp_path):
    layout = nih_named_layout(root, tmp_path)
    sets = [f"data.root={json.dumps(str(layout))}", "data.workers=0", "data.input_size=32", "train.batch_size=2",
            "data.train_fraction=0.5"]
    _, sampler, base = build_train_loader(load_config("smoke", sets), layout, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    order = [i for _, i in sampler]
    assert len(order) == 24 and len(base) < 24
    first = order[: len(base)]
    assert sorted(first) == list(range(len(base)))  # whole shuffled passes, then part of one more


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.1"])
def test_train_fraction_out_of_range_is_a_config_error(root, tmp_path, fraction):
    with pytest.raises(ConfigError, match="data.train_fraction"):
        subset(nih_named_layout(root, tmp_path), f"data.train_fraction={fraction}")


def test_train_fraction_that_keeps_nobody_says_so(root, tmp_path):
    with pytest.raises(ConfigError, match="no image is left"):
        subset(nih_named_layout(root, tmp_path), "data.train_fraction=1e-9")


def test_a_run_on_a_share_of_the_patients_says_so_and_trains(root, tmp_path, caplog):
    layout = nih_named_layout(root, tmp_path)
    out = tmp_path / "run"
    with caplog.at_level("INFO", logger="sr_core.train.trainer"):
        assert main(["--config", "smoke", "--data", str(layout), "--out", str(out), "--set", "train.epochs=1",
                     "--set", "output.progress=false", "--set", "train.batch_size=4", "--set", "data.workers=0",
                     "--set", 'data.negative_splits=["normal"]', "--set", "model.overrides.abnormal_weight=1.0",
                     "--set", "data.train_fraction=0.5"]) == 0
    line = next(r.getMessage() for r in caplog.records if "data.train_fraction" in r.getMessage())
    assert "data.train_fraction 0.5 (subset_seed 0)" in line and "32 draws an epoch" in line
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert next(r for r in records if r["kind"] == "epoch")["step"] == 8  # 32 draws / batch 4
