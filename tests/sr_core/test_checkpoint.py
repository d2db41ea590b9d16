"""Weights files: bit-exact round trip, metadata, and refusal of pickles and foreign files."""

import pickle
import struct

import pytest
import torch

from sr_core.checkpoint import WeightsError, load_weights, read_metadata, save_weights
from sr_core.models import create_model

CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]


@pytest.fixture(scope="module")
def nano():
    torch.manual_seed(1)
    return create_model("sr_vmamba_nano", modulation=False)


def test_round_trip_is_bit_exact_and_keeps_metadata(nano, tmp_path):
    path = save_weights(nano, tmp_path / "w.safetensors",
                        {"class_names": CLASSES, "default_threshold": 0.6, "operating_points": {"Mass": 0.3}})
    model, meta = load_weights(path)
    assert meta["class_names"] == CLASSES and meta["default_threshold"] == 0.6
    assert meta["model"]["name"] == "sr_vmamba_nano" and meta["model"]["head_args"]["modulation"] is False
    assert meta["input_size"] == 256 and len(meta["mean"]) == 3
    assert model.head_cfg.modulation is False and not model.training
    for (name, a), b in zip(nano.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert read_metadata(path) == meta
    assert not list(tmp_path.glob("*.tmp"))
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, like any file a user shares


def test_fp16_release_halves_the_file_and_loads_as_float32(nano, tmp_path):
    full = save_weights(nano, tmp_path / "full.safetensors")
    half = save_weights(nano, tmp_path / "half.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, meta = load_weights(half)
    assert meta["dtype"] == "float16"
    w = model.state_dict()["cam.cls.weight"]
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, nano.state_dict()["cam.cls.weight"], atol=1e-3, rtol=1e-3)


class _Exploit:
    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors"])
def test_a_pickle_is_refused_without_running(tmp_path, name):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    path = tmp_path / name
    torch.save({"state_dict": _Exploit()}, path)  # zip container with a pickle inside
    with pytest.raises(WeightsError, match="pickle") as err:
        load_weights(path)
    assert name in str(err.value) and "\n" not in str(err.value)
    raw = tmp_path / ("raw_" + name)
    raw.write_bytes(pickle.dumps(_Exploit(), protocol=4))
    with pytest.raises(WeightsError, match="pickle"):
        load_weights(raw)
    assert not marker.exists()


def test_missing_and_unexpected_keys_are_named(nano, tmp_path):
    from safetensors.torch import save_file
    import json
    path = save_weights(nano, tmp_path / "w.safetensors")
    meta = read_metadata(path)
    state = {k: v.contiguous() for k, v in nano.state_dict().items() if k != "cam.cls.bias"}
    state["extra.weight"] = torch.zeros(3)
    save_file(state, tmp_path / "bad.safetensors", metadata={"sr_weights": json.dumps(meta)})
    with pytest.raises(WeightsError, match=r"1 missing keys \(cam\.cls\.bias\).*unexpected keys \(extra\.weight\)"):
        load_weights(tmp_path / "bad.safetensors")


def test_shape_mismatch_is_named(nano, tmp_path):
    path = save_weights(nano, tmp_path / "w.safetensors", {"class_names": CLASSES})
    meta = read_metadata(path)
    meta["model"]["num_classes"] = 4  # metadata claims another head than the tensors hold
    from safetensors.torch import save_file
    import json
    save_file({k: v.contiguous() for k, v in nano.state_dict().items()}, tmp_path / "x.safetensors",
              metadata={"sr_weights": json.dumps(meta)})
    with pytest.raises(WeightsError, match="shape mismatch for cam.cls"):
        load_weights(tmp_path / "x.safetensors")


def test_foreign_and_broken_files(tmp_path, nano):
    from safetensors.torch import save_file
    cases = {
        "empty.safetensors": b"",
        "short.safetensors": b"\x01\x02",
        "text.safetensors": b"hello, these are not weights at all",
        "huge_header.safetensors": struct.pack("<Q", 2**40) + b"{}",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WeightsError) as err:
            load_weights(tmp_path / name)
        assert name in str(err.value)
    save_file({"a": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(WeightsError, match="without SR metadata"):
        load_weights(tmp_path / "plain.safetensors")
    good = save_weights(nano, tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match="cut.safetensors"):
        load_weights(tmp_path / "cut.safetensors")
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "absent.safetensors")


def test_wrong_class_name_count_is_refused_on_save(nano, tmp_path):
    with pytest.raises(ValueError, match="3 class names"):
        save_weights(nano, tmp_path / "w.safetensors", {"class_names": ["a", "b", "c"]})


def test_a_header_length_whose_first_byte_is_the_pickle_marker_still_loads(nano, tmp_path):
    # A real release file had a 0x6180-byte header: its first byte is 0x80, the pickle
    # protocol marker, and the loader refused it as a pickle.
    path = tmp_path / "w.safetensors"
    for pad in range(512):
        save_weights(nano, path, {"class_names": CLASSES, "note": "x" * pad})
        with open(path, "rb") as fh:
            if fh.read(1) == b"\x80":
                break
    else:
        pytest.fail("no padding gave a header length with a 0x80 low byte")
    model, meta = load_weights(path)
    assert meta["class_names"] == CLASSES
    for (name, a), b in zip(nano.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
