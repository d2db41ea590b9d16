"""sr-core-infer: the JSON-lines contract, bad inputs on their own lines, exit statuses."""

import json
import shutil

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
