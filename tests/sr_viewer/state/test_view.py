"""sr_viewer.state.view: ViewSettings, one event per field."""

from __future__ import annotations

import dataclasses

import pytest

from sr_viewer.state import ViewSettings


def test_view_settings_have_one_event_per_field_fired_only_on_a_change():
    view = ViewSettings()
    assert sorted(e.name for e in view.events) == sorted(f.name for f in dataclasses.fields(view))
    seen = []
    view.events.opacity.connect(seen.append)
    view.opacity = 0.45  # the default: no change, no event
    view.opacity = 7  # clamped to [0, 1]
    view.toggle("mode")
    view.toggle("invert")
    assert seen == [1.0] and view.mode == "all" and view.invert is True
    with pytest.raises(ValueError, match="colormap must be one of"):
        view.colormap = "rainbow"
    assert view.colormap == ViewSettings.default("colormap") == "inferno"
