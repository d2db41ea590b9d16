"""sr_viewer.export.paths: an output path never overwrites."""

from __future__ import annotations

import pytest

from sr_viewer.export import ExportError, safe_output_path


def test_safe_output_path_never_overwrites(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"x")
    with pytest.raises(ExportError, match="source image"):
        safe_output_path(tmp_path / "." / "a.png", [source])
    out = tmp_path / "a_sr.png"
    assert safe_output_path(out, [source]) == out
    out.write_bytes(b"old")
    (tmp_path / "a_sr_1.png").write_bytes(b"old")
    assert safe_output_path(out, [source]) == tmp_path / "a_sr_2.png"
