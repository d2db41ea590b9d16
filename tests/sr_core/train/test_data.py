"""data.device_augment: the batches made on the device equal the worker path's, resume included."""

import json

import pytest
import torch

from sr_core.cli.train import main
from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from sr_core.data.phantoms import write_phantom_dataset
from sr_core.train.config import load_config
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
