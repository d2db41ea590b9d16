"""sr-core-infer: the JSON-lines contract, bad inputs on their own lines, exit statuses."""

import io
import json
import shutil
import sys

import pytest
import torch

from sr_core.checkpoint import save_weights
from sr_core.cli.infer import main
from sr_core.models import create_model

CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "nano.safetensors"
    save_weights(create_model("sr_vmamba_nano"), path, {"class_names": CLASSES, "default_threshold": 0.5})
    return path


def test_folder_with_a_bad_file_gives_one_line_each_and_exit_1(weights, shared_data, tmp_path, capsys):
    folder = tmp_path / "study"
    folder.mkdir()
    for name in ("00000032_037.png", "00000072_000.png"):
        shutil.copy(shared_data / "nih-demo" / name, folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    out_file = tmp_path / "out.jsonl"
    status = main(["--weights", str(weights), "--json", "--threshold", "0.7", "--output", str(out_file), str(folder)])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert status == 1
    assert [r["image"].rsplit("/", 1)[-1] for r in lines] == ["00000032_037.png", "00000072_000.png", "broken.png"]
    bad = lines[2]
    assert bad["error"] and "broken.png" in bad["error"] and "\n" not in bad["error"] and bad["findings"] == []
    for record in lines[:2]:
        assert record["error"] is None and (record["width"], record["height"]) == (1024, 1024)
        probs = [f["probability"] for f in record["findings"]]
        assert probs == sorted(probs, reverse=True) and {f["label"] for f in record["findings"]} == set(CLASSES)
        for finding in record["findings"]:
            assert finding["threshold"] == 0.7
            for x0, y0, x1, y1 in finding["boxes"]:
                assert 0 <= x0 < x1 <= 1024 and 0 <= y0 < y1 <= 1024
    assert [json.loads(line) for line in out_file.read_text().splitlines()] == lines
    assert "Traceback" not in captured.err


def test_all_good_inputs_exit_0_with_readable_lines(weights, shared_data, capsys):
    status = main(["--weights", str(weights), str(shared_data / "nih-demo" / "00000150_002.png")])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and len(out) == 1 and out[0].startswith(str(shared_data / "nih-demo" / "00000150_002.png"))


@pytest.mark.parametrize("argv", [[], ["--threshold", "2", "x.png"], ["--batch-size", "0", "x.png"], ["--bogus", "x.png"]])
def test_usage_errors_exit_2_with_one_line(argv, weights, capsys):
    status = main(["--weights", str(weights)] + argv if argv else argv)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith("sr-core-infer: usage error")


def test_a_pickle_weights_file_is_refused_in_one_line(tmp_path, shared_data, capsys):
    bad = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, bad)
    status = main(["--weights", str(bad), str(shared_data / "nih-demo" / "00000150_002.png")])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "model.pt" in err and "pickle" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("case", ["empty folder", "no readable image", "missing path"])
def test_a_folder_without_a_readable_image_or_a_missing_path_is_one_line_on_stderr_and_exit_1(
        case, weights, tmp_path, capsys):
    path = tmp_path / "study"
    if case != "missing path":
        path.mkdir()
        (path / "notes.txt").write_text("not an image")
    if case == "no readable image":
        (path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    status = main(["--weights", str(weights), "--json", str(path)])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert status == 1 and len(err) == 1 and err[0].startswith("sr-core-infer: ") and str(path) in err[0]
    assert "Traceback" not in captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    if case == "no readable image":  # the bad file still has its own result line
        assert [r["image"] for r in records] == [str(path / "broken.png")] and records[0]["error"]
    else:
        assert records == []


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_many_files_show_a_progress_bar_on_a_terminal_and_stdout_keeps_only_json(
        weights, shared_data, monkeypatch, capsys):
    files = [str(shared_data / "nih-demo" / name) for name in ("00000032_037.png", "00000072_000.png")]
    assert main(["--weights", str(weights), "--json", *files]) == 0
    assert capsys.readouterr().err == ""  # stderr not a terminal: no bar
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert main(["--weights", str(weights), "--json", "--batch-size", "1", *files]) == 0
    bar = sys.stderr.getvalue()
    assert "infer" in bar and "2/2" in bar and "img" in bar
    assert [json.loads(line)["image"] for line in capsys.readouterr().out.splitlines()] == files


def test_json_numbers_are_written_with_six_significant_digits(shared_data, tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    # 0.01 * 47 is 0.47000000000000003 in binary: what a threshold grid hands over.
    save_weights(create_model("sr_vmamba_nano"), path, {"class_names": CLASSES, "default_threshold": 0.01 * 47,
                                                        "fpm_thresholds": {"Mass": 0.1 + 0.2}})
    assert main(["--weights", str(path), "--json", str(shared_data / "nih-demo" / "00000150_002.png")]) == 0
    line = capsys.readouterr().out.strip()
    record = json.loads(line)
    thresholds = {f["label"]: f["threshold"] for f in record["findings"]}
    assert thresholds["Mass"] == 0.3 and thresholds["Nodule"] == 0.47
    assert "0.47000000000000003" not in line and "0.30000000000000004" not in line
    for finding in record["findings"]:
        assert 0 < finding["probability"] < 1 and float(f"{finding['probability']:.6g}") == finding["probability"]


def test_json_and_lines_carry_the_out_of_distribution_warning(shared_data, capsys):
    import pydicom.data

    ct = pydicom.data.get_testdata_file("CT_small.dcm")
    chest = shared_data / "nih-demo" / "00000072_000.png"  # 0.75 of the limit (00000032_037 sits at it)
    assert main(["--json", ct, str(chest)]) == 0  # the bundled weights and their calibration
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["warning"].startswith("DICOM Modality is CT, not a radiograph")
    assert first["findings"]  # warned, never hidden
    assert second["warning"] is None and second["ood_ratio"] < 1
    assert main([ct]) == 0
    assert "  warning: DICOM Modality is CT" in capsys.readouterr().out
