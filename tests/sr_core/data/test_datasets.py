"""FolderDataset and LocalizationSet over a generated phantom dataset."""

import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sr_core.data.datasets import FolderDataset, LocalizationSet
from sr_core.data.layout import GtEntry, read_test_gt, write_test_gt
from sr_core.data.phantoms import write_phantom_dataset
from sr_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transforms, train_transforms


NAMES = ["Cardiomegaly", "Mass", "Nodule"]


@pytest.fixture(scope="module")
def phantom_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(root, 4, 48, seed=1, class_names=NAMES, n_test_per_class=2, n_val_per_class=1)
    return root


@pytest.fixture
def own_copy(phantom_root, tmp_path):
    shutil.copytree(phantom_root, tmp_path / "data")
    return tmp_path / "data"


def test_folder_dataset_yields_normalised_three_channel_tensors_with_folder_labels(phantom_root):
    data = FolderDataset(phantom_root, "train", transform=eval_transforms(32))
    assert data.class_names == NAMES
    assert len(data) == 12 and data.targets == [0] * 4 + [1] * 4 + [2] * 4
    assert data.class_counts() == [4, 4, 4]
    tensor, label, index = data[5]
    assert tensor.shape == (3, 32, 32) and tensor.dtype == torch.float32
    assert label == 1 and index == 5
    assert data.samples[5][0].parent.name == "Mass"
    # ImageNet normalisation of a grey image: channel c = (x - mean_c) / std_c.
    grey = tensor[0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    assert torch.allclose(tensor[2] * IMAGENET_STD[2] + IMAGENET_MEAN[2], grey, atol=1e-5)
    assert 0.0 <= float(grey.min()) and float(grey.max()) <= 1.0 + 1e-5


def test_val_and_test_splits_share_the_train_class_order(phantom_root):
    val = FolderDataset(phantom_root, "val")
    assert val.class_names == NAMES and val.targets == [0, 1, 2]
    assert val[0][0].shape == (3, 48, 48)  # default transform keeps the size


def test_unreadable_image_is_skipped_and_counted(own_copy):
    bad = own_copy / "train" / "Mass" / "phantom_train_01_0000.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    data = FolderDataset(own_copy, "train")
    index = [p for p, _ in data.samples].index(bad)
    tensor, label, served = data[index]
    assert served == index + 1 and label == 1 and tensor.shape == (3, 48, 48)
    assert [p for p, _ in data.failed] == [bad] and "phantom_train_01_0000.png" in data.failed[0][1]
    assert data.failure_fraction == pytest.approx(1 / 12)
    data[index]  # remembered: not read (or counted) again
    assert len(data.failed) == 1
    assert data.verify() == data.failed and len(data) == 11 and bad not in [p for p, _ in data.samples]


def test_unreadable_image_raises_when_not_skipping(own_copy):
    from sr_core.io import ImageReadError

    (own_copy / "train" / "Nodule" / "phantom_train_02_0001.png").write_bytes(b"")
    data = FolderDataset(own_copy, "train", skip_unreadable=False)
    with pytest.raises(ImageReadError):
        data[9]


def test_localization_set_scales_gt_boxes_to_the_image_on_disk(own_copy):
    gt, _ = read_test_gt(own_copy / "test_gt.txt")
    # Pretend the 48 px test images are copies of 192 px originals: W H and boxes x4.
    write_test_gt(own_copy / "test_gt.txt",
                  {k: GtEntry(192, 192, [tuple(4 * v for v in b) for b in e.boxes]) for k, e in gt.items()})
    data = LocalizationSet(own_copy, transform=eval_transforms(32))
    assert len(data) == 6 and data.class_names == NAMES and data.problems == []
    sample = data[3]
    expected = gt[(sample.path.parent.name, sample.path.name)].boxes
    assert sample.finding == "Mass" and sample.label == 1 and sample.original_size == (192, 192)
    assert sample.image.shape == (48, 48) and sample.tensor.shape == (3, 32, 32)
    np.testing.assert_allclose(sample.boxes, np.asarray(expected, dtype=np.float32), atol=1e-3)


def test_localization_set_skips_rows_without_image_or_box(own_copy):
    with open(own_copy / "test_list.txt", "a") as handle:
        handle.write("Mass/absent.png;Mass\nMass/x.png;Mass;extra\n")
    data = LocalizationSet(own_copy)
    assert len(data) == 6
    assert any("absent.png: image not found" in p for p in data.problems)
    assert any("test_list.txt:8" in p for p in data.problems)


def test_dataloader_workers_give_the_same_batches_for_the_same_seed(phantom_root):
    data = FolderDataset(phantom_root, "train", transform=train_transforms(32))

    def first_batch():
        torch.manual_seed(6)
        loader = DataLoader(data, batch_size=6, shuffle=True, num_workers=2)
        return next(iter(loader))

    a, b = first_batch(), first_batch()
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
