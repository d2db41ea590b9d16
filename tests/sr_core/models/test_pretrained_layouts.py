"""`model.init = PATH` with the files users download: torchvision / timm ResNet-50, official VMamba.

Every file here is written in the other library's own key layout: names and shapes follow
that library's source (torchvision.models.resnet, timm's ResNet, MzeroMiko/VMamba's
classification/models/vmamba.py), spelled out below rather than derived from our modules,
so a wrong name or shape on our side shows up as a failed load.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from sr_core.kernels import ss2d_scan
from sr_core.models import create_model
from sr_core.models.pretrained import InitError, initialise

SMALL_VMAMBA = {"dims": [16, 32, 64, 128], "drop_path_rate": 0.0}


class Tensors:
    """A state dict under construction, filled with seeded random values."""

    def __init__(self, seed: int = 0):
        self.state: dict[str, torch.Tensor] = {}
        self.gen = torch.Generator().manual_seed(seed)

    def add(self, name: str, *shape: int) -> None:
        self.state[name] = 0.1 * torch.randn(*shape, generator=self.gen)

    def layer_norm(self, name: str, ch: int) -> None:
        self.state[f"{name}.weight"] = 1 + 0.1 * torch.randn(ch, generator=self.gen)
        self.add(f"{name}.bias", ch)

    def batch_norm(self, name: str, ch: int) -> None:
        self.layer_norm(name, ch)
        self.add(f"{name}.running_mean", ch)
        self.state[f"{name}.running_var"] = 0.5 + torch.rand(ch, generator=self.gen)
        self.state[f"{name}.num_batches_tracked"] = torch.tensor(1000)


def torchvision_resnet(layers=(3, 4, 6, 3), width: int = 64, classes: int = 1000) -> dict[str, torch.Tensor]:
    """Named and shaped as torchvision.models.resnet50().state_dict() (timm's resnet50 alike)."""
    t = Tensors(seed=1)
    t.add("conv1.weight", width, 3, 7, 7)
    t.batch_norm("bn1", width)
    in_ch = width
    for i, blocks in enumerate(layers):
        planes = width * 2**i
        for j in range(blocks):
            block = f"layer{i + 1}.{j}"
            for conv, (out_ch, cin, k) in enumerate([(planes, in_ch, 1), (planes, planes, 3), (4 * planes, planes, 1)]):
                t.add(f"{block}.conv{conv + 1}.weight", out_ch, cin, k, k)
                t.batch_norm(f"{block}.bn{conv + 1}", out_ch)
            if j == 0:  # stride 2, or in_ch != 4 * planes: torchvision's downsample condition
                t.add(f"{block}.downsample.0.weight", 4 * planes, in_ch, 1, 1)
                t.batch_norm(f"{block}.downsample.1", 4 * planes)
            in_ch = 4 * planes
    t.add("fc.weight", classes, in_ch)
    t.add("fc.bias", classes)
    return t.state


def official_vmamba(
    dims=(96, 192, 384, 768), depths=(2, 2, 4, 2), z_gate: bool = True, conv_bias: bool = False, classes: int = 1000
) -> dict[str, torch.Tensor]:
    """Named and shaped as MzeroMiko/VMamba's `VSSM(patchembed_version="v2", downsample_version="v3",
    ssm_d_state=1, ssm_ratio=2.0, ssm_dt_rank="auto", mlp_ratio=4.0, ...)`; forward type v2
    (0220) when z_gate, v05_noz (0230) when not: in_proj then lifts to d_inner, not 2 * d_inner."""
    t = Tensors(seed=2)
    d_state, half = 1, dims[0] // 2
    t.add("patch_embed.0.weight", half, 3, 3, 3)  # Conv2d(3, d/2, 3, stride 2), Permute, LN, Permute, GELU
    t.add("patch_embed.0.bias", half)
    t.layer_norm("patch_embed.2", half)
    t.add("patch_embed.5.weight", dims[0], half, 3, 3)  # Conv2d(d/2, d, 3, stride 2), Permute, LN
    t.add("patch_embed.5.bias", dims[0])
    t.layer_norm("patch_embed.7", dims[0])
    for i, (dim, depth) in enumerate(zip(dims, depths)):
        inner, rank = 2 * dim, math.ceil(dim / 16)
        for j in range(depth):
            block = f"layers.{i}.blocks.{j}"
            t.layer_norm(f"{block}.norm", dim)
            t.add(f"{block}.op.in_proj.weight", (2 if z_gate else 1) * inner, dim)
            t.add(f"{block}.op.conv2d.weight", inner, 1, 3, 3)
            if conv_bias:
                t.add(f"{block}.op.conv2d.bias", inner)
            t.add(f"{block}.op.x_proj_weight", 4, rank + 2 * d_state, inner)
            t.add(f"{block}.op.dt_projs_weight", 4, inner, rank)
            t.add(f"{block}.op.dt_projs_bias", 4, inner)
            t.add(f"{block}.op.A_logs", 4 * inner, d_state)
            t.add(f"{block}.op.Ds", 4 * inner)
            t.layer_norm(f"{block}.op.out_norm", inner)
            t.add(f"{block}.op.out_proj.weight", dim, inner)
            t.layer_norm(f"{block}.norm2", dim)
            t.add(f"{block}.mlp.fc1.weight", 4 * dim, dim)
            t.add(f"{block}.mlp.fc1.bias", 4 * dim)
            t.add(f"{block}.mlp.fc2.weight", dim, 4 * dim)
            t.add(f"{block}.mlp.fc2.bias", dim)
        if i < len(dims) - 1:  # Permute, Conv2d(dim, next, 3, stride 2), Permute, LN
            t.add(f"layers.{i}.downsample.1.weight", dims[i + 1], dim, 3, 3)
            t.add(f"layers.{i}.downsample.1.bias", dims[i + 1])
            t.layer_norm(f"layers.{i}.downsample.3", dims[i + 1])
    t.layer_norm("classifier.norm", dims[-1])
    t.add("classifier.head.weight", classes, dims[-1])
    t.add("classifier.head.bias", classes)
    return t.state


def as_checkpoint(state: dict[str, torch.Tensor]) -> dict:
    """Wrapped as VMamba's training script saves it (the tensors under "model")."""
    return {"model": state, "epoch": 262, "max_accuracy": 82.5}


# Where each file tensor belongs, stated here apart from `pretrained_names` so that a swap of
# two same-shaped tensors there (norm <-> norm2, say) fails the tests.
def torchvision_to_ours(name: str) -> str:
    name = re.sub(r"^conv1\.", "stem.0.", re.sub(r"^bn1\.", "stem.1.", name))
    name = re.sub(r"^layer([123])\.", lambda m: f"layers.{int(m[1]) - 1}.", name)
    return re.sub(r"^layer4\.", "stage4.", name)


def vmamba_to_ours(name: str, depths) -> str:
    stem = {"0": "conv1", "2": "norm1", "5": "conv2", "7": "norm2"}
    name = re.sub(r"^patch_embed\.(\d)\.", lambda m: f"patch_embed.{stem[m[1]]}.", name)
    name = re.sub(r"^layers\.3\.blocks\.", "stage4.blocks.", name)
    name = re.sub(r"^layers\.(\d)\.blocks\.", r"stages.\1.", name)
    down = {"1": "conv", "3": "norm"}  # stage i's downsample follows its depth_i blocks here
    name = re.sub(
        r"^layers\.(\d)\.downsample\.(\d)\.", lambda m: f"stages.{m[1]}.{depths[int(m[1])]}.{down[m[2]]}.", name
    )
    return re.sub(r"^classifier\.norm\.", "norm.", name)


def assert_loaded_from(model, state: dict[str, torch.Tensor], report, rename) -> None:
    """Every file tensor but the unexpected ones sits, exactly, where `rename` says it belongs."""
    own = model.backbone.state_dict()
    loaded = {rename(theirs): theirs for theirs in state if theirs not in report.unexpected}
    assert sorted(loaded) == report.mapped
    for ours, theirs in loaded.items():
        assert torch.equal(own[ours], state[theirs].to(own[ours].dtype)), f"{theirs} -> {ours}"


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
    state = torchvision_resnet()
    path = tmp_path_factory.mktemp("torchvision") / "resnet50-11ad3fa6.pth"
    torch.save(state, path)  # torchvision's files are the bare state dict
    return path, state


@pytest.fixture(scope="module")
def resnet50_loaded(resnet50_file):
    path, state = resnet50_file
    model = create_model("sr_resnet50")
    return model, state, initialise(model, str(path))


def test_torchvision_resnet50_file_loads_every_backbone_tensor(resnet50_loaded):
    model, state, report = resnet50_loaded
    assert report.missing == []
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"]
    assert len(report.mapped) == len(model.backbone.state_dict()) == len(state) - 2
    assert_loaded_from(model, state, report, torchvision_to_ours)
    rows = {line.split()[0]: line for line in report.table().splitlines()[1:]}
    assert rows["mapped"].split()[1] == str(len(state) - 2)
    assert rows["unexpected"].split()[3] == "2"


def test_resnet50_stem_after_init_computes_torchvision_stem(resnet50_loaded):
    model, state, _ = resnet50_loaded
    x = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(3))
    bn = [state[f"bn1.{k}"] for k in ("running_mean", "running_var", "weight", "bias")]
    # torchvision's ResNet.forward: conv1 -> bn1 -> relu -> maxpool (eval-mode batch norm)
    expected = F.max_pool2d(
        F.relu(F.batch_norm(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), *bn, training=False, eps=1e-5)),
        kernel_size=3, stride=2, padding=1,
    )
    with torch.no_grad():
        got = model.backbone.eval().stem(x)
    torch.testing.assert_close(got, expected)


def test_timm_resnet50_safetensors_file_loads_the_same_names(tmp_path):
    # timm's hub files (model.safetensors) carry torchvision's names.
    state = torchvision_resnet(width=8)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    model = create_model("sr_resnet50", width=8)
    report = initialise(model, str(path))
    assert report.missing == []
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"]
    assert_loaded_from(model, state, report, torchvision_to_ours)


def test_official_vmamba_tiny_0220_file_loads_every_backbone_tensor(tmp_path):
    state = official_vmamba()
    path = tmp_path / "vssm1_tiny_0220.pth"
    torch.save(as_checkpoint(state), path)
    model = create_model("sr_vmamba_tiny")
    report = initialise(model, str(path))
    assert report.missing == []
    assert sorted(report.unexpected) == ["classifier.head.bias", "classifier.head.weight"]
    assert len(report.mapped) == len(model.backbone.state_dict())
    assert_loaded_from(model, state, report, lambda name: vmamba_to_ours(name, [2, 2, 4, 2]))


def test_gated_block_computes_the_official_in_proj_chunk_forward():
    """The official gated SS2D (0220): one in_proj GEMM cut into x and z; ours runs it as two
    GEMMs on the halves of the same weight (a contiguous map for the conv), same result."""
    torch.manual_seed(0)
    op = create_model("sr_vmamba_tiny", **SMALL_VMAMBA).backbone.stages[1][0].op
    p = {k: v.detach() for k, v in op.state_dict().items()}
    d_inner = p["conv2d.weight"].shape[0]
    x = torch.randn(2, 5, 6, p["in_proj.weight"].shape[1], generator=torch.Generator().manual_seed(5))
    u, z = (x @ p["in_proj.weight"].T).chunk(2, dim=-1)
    u = F.silu(F.conv2d(u.permute(0, 3, 1, 2), p["conv2d.weight"], padding=1, groups=d_inner))
    ssm = [p[k] for k in ("x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds")]
    y = F.layer_norm(ss2d_scan(u, *ssm, backend="torch"), (d_inner,), p["out_norm.weight"], p["out_norm.bias"])
    expected = (y * F.silu(z)) @ p["out_proj.weight"].T
    with torch.no_grad():
        got = op(x)
    torch.testing.assert_close(got, expected)


def test_official_vmamba_0230_file_loads_into_noz_depth5_model_and_scans_as_v05_noz(tmp_path):
    depths = [2, 2, 5, 2]
    state = official_vmamba(dims=SMALL_VMAMBA["dims"], depths=depths, z_gate=False)
    path = tmp_path / "vssm_tiny_0230_ckpt_epoch_262.pth"
    torch.save(as_checkpoint(state), path)
    model = create_model("sr_vmamba_tiny", depths=depths, z_gate=False, **SMALL_VMAMBA)
    report = initialise(model, str(path))
    assert report.missing == []
    assert sorted(report.unexpected) == ["classifier.head.bias", "classifier.head.weight"]
    assert_loaded_from(model, state, report, lambda name: vmamba_to_ours(name, depths))
    # Official SS2D.forward for v05_noz: in_proj -> conv2d -> SiLU -> cross scan -> out_norm -> out_proj.
    prefix = "layers.2.blocks.4.op."  # the fifth block of stage 3, which only 0230 has
    p = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    x = torch.randn(1, 5, 6, 64, generator=torch.Generator().manual_seed(4))
    u = F.silu(F.conv2d((x @ p["in_proj.weight"].T).permute(0, 3, 1, 2), p["conv2d.weight"], padding=1, groups=128))
    ssm = [p[k] for k in ("x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds")]
    y = ss2d_scan(u, *ssm, backend="torch")
    expected = F.layer_norm(y, (128,), p["out_norm.weight"], p["out_norm.bias"]) @ p["out_proj.weight"].T
    with torch.no_grad():
        got = model.backbone.stages[2][4].op(x)
    torch.testing.assert_close(got, expected)


def test_official_0230_file_into_the_gated_default_is_an_error_naming_in_proj(tmp_path):
    state = official_vmamba(dims=SMALL_VMAMBA["dims"], depths=[2, 2, 5, 2], z_gate=False)
    path = tmp_path / "vssm_tiny_0230_ckpt_epoch_262.pth"
    torch.save(as_checkpoint(state), path)
    model = create_model("sr_vmamba_tiny", **SMALL_VMAMBA)
    with pytest.raises(InitError, match=r"layers\.0\.blocks\.0\.op\.in_proj\.weight has shape \(32, 16\).*\(64, 16\)"):
        initialise(model, str(path))


def test_vmamba_file_with_conv_biases_lists_them_unexpected(tmp_path):
    state = official_vmamba(dims=SMALL_VMAMBA["dims"], conv_bias=True)
    path = tmp_path / "vssm_conv_bias.pth"
    torch.save(as_checkpoint(state), path)
    model = create_model("sr_vmamba_tiny", **SMALL_VMAMBA)
    report = initialise(model, str(path))
    biases = sorted(k for k in state if k.endswith("op.conv2d.bias"))
    assert len(biases) == 10
    assert sorted(report.unexpected) == sorted(biases + ["classifier.head.bias", "classifier.head.weight"])
    assert report.missing == []
    assert_loaded_from(model, state, report, lambda name: vmamba_to_ours(name, [2, 2, 4, 2]))


def test_file_with_one_tensor_of_the_wrong_shape_is_an_error_naming_it(tmp_path):
    state = torchvision_resnet(width=8)
    state["layer3.1.conv2.weight"] = torch.zeros(32, 32, 1, 1)
    path = tmp_path / "resnet50-bad.pth"
    torch.save(state, path)
    with pytest.raises(InitError, match=r"layer3\.1\.conv2\.weight has shape \(32, 32, 1, 1\), "
                                        r"the model's layers\.2\.1\.conv2\.weight \(32, 32, 3, 3\)"):
        initialise(create_model("sr_resnet50", width=8), str(path))


@pytest.mark.parametrize("file_of, model_name", [("vmamba", "sr_resnet50"), ("resnet", "sr_vmamba_tiny")])
def test_file_of_another_architecture_maps_nothing_and_is_an_error(tmp_path, file_of, model_name):
    if file_of == "vmamba":
        state, model = official_vmamba(dims=SMALL_VMAMBA["dims"]), create_model(model_name, width=8)
    else:
        state, model = torchvision_resnet(width=8), create_model(model_name, **SMALL_VMAMBA)
    path = tmp_path / f"{file_of}.pth"
    torch.save(as_checkpoint(state), path)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    with pytest.raises(InitError, match=f"none of its {len(state)} tensors fits"):
        initialise(model, str(path))
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
