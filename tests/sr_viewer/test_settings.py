"""Settings: JSON in the config folder, robust to damage; the log folder beside it."""

from __future__ import annotations

import json

from sr_viewer import settings as settings_module
from sr_viewer.settings import MAX_RECENT, Settings


def test_config_dir_follows_the_environment(config_dir):
    assert settings_module.config_dir() == config_dir and settings_module.log_dir() == config_dir / "logs"


def test_settings_round_trip(config_dir):
    s = Settings(colormap="viridis", opacity=0.7, thresholds={"w": {"Mass": 0.3}}, device="cpu", theme="light")
    for i in range(MAX_RECENT + 3):
        s.add_recent(f"/data/{i}.png")
    s.add_recent("/data/3.png")
    path = s.save()
    assert path.parent == config_dir
    back = Settings.load()
    assert back == s and back.recent_files[0].endswith("3.png") and len(back.recent_files) == MAX_RECENT


def test_damaged_or_foreign_settings_give_defaults(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text("{not json")
    assert Settings.load() == Settings()
    (config_dir / "settings.json").write_text(json.dumps({"opacity": "high", "colormap": "magma", "extra": 1,
                                                          "thresholds": {"w": {"Mass": "x", "Nodule": 0.2}}}))
    loaded = Settings.load()
    assert loaded.opacity == Settings().opacity and loaded.colormap == "magma"
    assert loaded.thresholds == {"w": {"Nodule": 0.2}}
