"""sr_core fixtures shared by several of its test folders (data, evaluation, cli)."""

import pytest


@pytest.fixture(scope="session")
def nih_import_64(shared_data, tmp_path_factory):
    """../shared/data imported into the NIH layout at 64 px, once per test session.

    Official-format inputs: Data_Entry = both labels.csv files, boxes = nih-val's BBox_List.
    Returns (exit status of sr-core-data import-nih, dataset root). Tests must not modify it.
    """
    from sr_core.cli.data import main

    base = tmp_path_factory.mktemp("nih")
    inputs = base / "official"
    inputs.mkdir()
    (inputs / "Data_Entry_2017_train.csv").symlink_to(shared_data / "nih-train" / "labels.csv")
    (inputs / "Data_Entry_2017_val.csv").symlink_to(shared_data / "nih-val" / "labels.csv")
    (inputs / "BBox_List_2017_val.csv").symlink_to(shared_data / "nih-val" / "BBox_List_2017_val.csv")
    out = base / "root"
    status = main([
        "import-nih", "--entries", str(inputs), "--boxes", str(inputs / "BBox_List_2017*.csv"),
        "--images", str(shared_data / "nih-train" / "images"), str(shared_data / "nih-val" / "images"),
        "--out", str(out), "--size", "64", "--val-fraction", "0.2", "--seed", "6",
    ])
    return status, out
