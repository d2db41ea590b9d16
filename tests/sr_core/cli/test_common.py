"""The shell every command line shares (sr_core.cli.common), held to its contract on each entry
point: a usage error exits 2 in one line, a failure exits 1 in one line (an unexpected exception
too), never a traceback; --help and --version exit 0; --quiet turns the progress bars off."""

import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sr_core import __version__
from sr_core.checkpoint import save_weights
from sr_core.cli import common
from sr_core.cli import data as data_cli
from sr_core.cli import eval as eval_cli
from sr_core.cli import infer as infer_cli
from sr_core.cli import train as train_cli
from sr_core.models import create_model

TOOLS = {"sr-core-infer": infer_cli, "sr-core-eval": eval_cli, "sr-core-train": train_cli, "sr-core-data": data_cli}


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "nano.safetensors"
    classes = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]
    save_weights(create_model("sr_vmamba_nano"), path, {"class_names": classes, "default_threshold": 0.5})
    return path


@pytest.mark.parametrize("prog", TOOLS)
def test_version_prints_the_tool_and_the_package_version_and_exits_0(prog, capsys):
    assert TOOLS[prog].main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"{prog} {__version__}"


@pytest.mark.parametrize("prog", TOOLS)
def test_help_exits_0_and_lists_the_shared_options(prog, capsys):
    assert TOOLS[prog].main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {prog}") and "--version" in out and "--quiet" in out


@pytest.mark.parametrize("prog", TOOLS)
def test_an_unknown_option_is_a_usage_error_in_one_line_with_exit_2(prog, capsys):
    assert TOOLS[prog].main(["--no-such-option"]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"{prog}: usage error: ")


@pytest.mark.parametrize("prog, argv, named", [
    ("sr-core-infer", ["--weights", "{tmp}/absent.safetensors", "x.png"], "absent.safetensors"),
    ("sr-core-eval", ["--weights", "w", "--data", "{tmp}", "--compare", "{tmp}/absent.json"], "absent.json"),
    ("sr-core-train", ["export", "{tmp}/no-run", "--out", "{tmp}/w.safetensors"], "no-run"),
    ("sr-core-data", ["import-nih", "--entries", "{tmp}/none.csv", "--boxes", "{tmp}", "--images", "{tmp}",
                      "--out", "{tmp}/root"], "none.csv"),
])
def test_a_failure_is_one_line_naming_the_problem_with_exit_1(prog, argv, named, tmp_path, capsys):
    assert TOOLS[prog].main([a.format(tmp=tmp_path) for a in argv]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"{prog}: ") and "usage error" not in line and named in line


def test_an_unexpected_exception_is_still_one_line_naming_its_type_with_exit_1(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise TypeError("a defect\nover two lines")

    monkeypatch.setitem(data_cli.COMMANDS, "check", broken)
    assert data_cli.main(["check", str(tmp_path)]) == 1
    assert _one_line(capsys.readouterr().err) == "sr-core-data: internal error (TypeError): a defect over two lines"


def test_a_usage_error_found_while_running_exits_2_and_an_interrupt_130(capsys):
    def refuses():
        raise common.UsageError("--device names no device")

    def interrupted():
        raise KeyboardInterrupt

    assert common.run_cli("tool", lambda: (), refuses) == 2
    assert _one_line(capsys.readouterr().err) == "tool: usage error: --device names no device"
    assert common.run_cli("tool", lambda: (), interrupted) == 130
    assert _one_line(capsys.readouterr().err) == "tool: interrupted"


def test_quiet_turns_the_bars_off_even_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert common.show_progress(False) and not common.show_progress(True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not common.show_progress(False)  # a log file gets no bar either


def test_every_tool_takes_quiet_and_eval_keeps_no_progress_as_its_old_name():
    assert infer_cli.build_parser().parse_args(["--quiet", "x.png"]).quiet
    assert eval_cli.build_parser().parse_args(["--data", "d", "--quiet"]).quiet
    assert eval_cli.build_parser().parse_args(["--data", "d", "--no-progress"]).quiet
    assert train_cli.train_parser().parse_args(["--config", "smoke", "--quiet"]).quiet
    assert data_cli.build_parser().parse_args(["--quiet", "check", "root"]).quiet


def test_infer_shows_its_bar_on_a_terminal_and_not_with_quiet(weights, tmp_path, capsys, monkeypatch):
    image = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(image)
    for quiet, bar in ((False, True), (True, False)):
        monkeypatch.setattr(sys, "stderr", _Terminal())
        assert infer_cli.main(["--weights", str(weights), "--device", "cpu", *(["--quiet"] * quiet), str(image)]) == 0
        assert ("infer: 100%" in sys.stderr.getvalue()) is bar
        assert capsys.readouterr().out.startswith(str(image))


@pytest.mark.parametrize("module, prog", [("sr_core.cli.train", "sr-core-train"), ("sr_core.train.cli", "sr-core-train"),
                                          ("sr_core.cli.data", "sr-core-data"), ("sr_core.data.cli", "sr-core-data")])
def test_python_m_runs_each_tool_under_its_new_and_its_old_name(module, prog):
    result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"{prog} {__version__}", result.stderr
