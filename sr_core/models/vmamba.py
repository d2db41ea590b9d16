"""VMamba (VSSM) backbone: SS2D blocks, v2 patch embedding, v3 downsampling.

Follows the VMamba "tiny 0220" design (Liu et al., VMamba, NeurIPS 2024; the SR paper's
backbone, sr_core/README.md#method): channels-last inside the stages, d_state 1, ssm_ratio 2,
dt_rank = ceil(width / 16), forward type v2 (LayerNorm on the scan output, gated by SiLU(z)).
The scan itself lives in sr_core.kernels behind one dispatch point. `z_gate=False` gives the
"noz" forward types of the released tiny 0230 checkpoint, whose ImageNet weights
`pretrained_names` maps (with `depths=[2, 2, 5, 2]`).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sr_core.kernels import ss2d_scan
from sr_core.models.layers import DropPath, LayerNorm2d

# Looked up, not imported: the CPU path never imports Triton (`Mlp` imports its kernel on first use).
_HAS_TRITON = importlib.util.find_spec("triton") is not None


@dataclass
class VMambaConfig:
    """Hyper-parameters of a VMamba backbone."""

    dims: list[int] = field(default_factory=lambda: [96, 192, 384, 768])
    depths: list[int] = field(default_factory=lambda: [2, 2, 4, 2])
    d_state: int = 1
    ssm_ratio: float = 2.0
    dt_rank: int | None = None  # None: ceil(width / 16)
    mlp_ratio: float = 4.0
    z_gate: bool = True  # scan output * SiLU(z); False: VMamba's "noz" forward types (0230)
    drop_path_rate: float = 0.2
    ssm_backend: str = "auto"  # "auto" (CUDA: "triton_plane"), "torch", "triton" or "triton_plane"


class SS2D(nn.Module):
    """2-D selective scan: in_proj -> dwconv -> 4-direction scan -> LayerNorm [* SiLU(z)] -> out_proj.

    On the GPU with no gradient wanted, in half precision (`_fused_dtype`, as the fused MLP),
    the conv + SiLU and the LayerNorm + gate are each one Triton pass (triton_ss2d_io.py) that
    also changes the layout: channels last in, contiguous planes to the scan, channels last out;
    `fused_io = False` keeps PyTorch's layers and the scan's own layout changes.
    """

    def __init__(
        self, dim: int, d_state: int, ssm_ratio: float, dt_rank: int | None, backend: str, z_gate: bool = True
    ):
        super().__init__()
        d_inner = int(ssm_ratio * dim)
        rank = dt_rank or math.ceil(dim / 16)
        k = 4
        self.backend = backend
        self.z_gate = z_gate
        self.in_proj = nn.Linear(dim, (2 if z_gate else 1) * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, 3, padding=1, groups=d_inner, bias=False)
        self.x_proj_weight = nn.Parameter(torch.empty(k, rank + 2 * d_state, d_inner))
        self.dt_projs_weight = nn.Parameter(torch.empty(k, d_inner, rank))
        self.dt_projs_bias = nn.Parameter(torch.empty(k, d_inner))
        self.A_logs = nn.Parameter(torch.empty(k * d_inner, d_state))
        self.Ds = nn.Parameter(torch.empty(k * d_inner))
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)
        self.fused_io = True
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Mamba's initialisation: dt log-uniform in [dt_min, dt_max], A = -(1..N), D = 1."""
        k, d_inner, rank = self.dt_projs_weight.shape
        nn.init.uniform_(self.x_proj_weight, -(d_inner**-0.5), d_inner**-0.5)
        nn.init.uniform_(self.dt_projs_weight, -(rank**-0.5), rank**-0.5)
        dt = torch.exp(torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=1e-4)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        n = self.A_logs.shape[1]
        self.A_logs.copy_(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).expand(k * d_inner, n))
        self.Ds.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        if self.z_gate:
            # in_proj as two GEMMs, one a half of its weight, not one GEMM cut in two: a half
            # of one output is a strided map, which the depthwise conv copied to make it
            # contiguous, once a block (CPU and GPU alike); each GEMM's own output is not.
            w_x, w_z = self.in_proj.weight.chunk(2, dim=0)
            z = F.linear(x, w_z)
            x = F.linear(x, w_x)
        else:
            x = self.in_proj(x)
        dtype = _fused_dtype(x, self.conv2d.weight) if self.fused_io else None
        if dtype is not None:
            from sr_core.kernels.triton_ss2d_io import dwconv_silu_planes, layernorm_gate

            x = dwconv_silu_planes(x.to(dtype), self.conv2d.weight.to(dtype), self.conv2d.bias)
        else:
            x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))
        y = ss2d_scan(
            x, self.x_proj_weight, self.dt_projs_weight, self.dt_projs_bias, self.A_logs, self.Ds, backend=self.backend
        )
        if dtype is not None:
            norm = self.out_norm
            return self.out_proj(layernorm_gate(y, z if self.z_gate else None, norm.weight, norm.bias, norm.eps, dtype))
        y = self.out_norm(y)
        return self.out_proj(y * F.silu(z) if self.z_gate else y)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2. On the GPU with no gradient wanted, in half precision (inference under
    autocast), fc1 and the GELU are one Triton GEMM (`triton_linear.linear_gelu`), which writes
    the 4x-wide hidden map once, where the GEMM wrote it and the GELU read and wrote it again;
    `fused_gelu = False` keeps PyTorch's."""

    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.fused_gelu = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _fused_dtype(x, self.fc1.weight) if self.fused_gelu else None
        if dtype is not None:
            from sr_core.kernels.triton_linear import linear_gelu

            return self.fc2(linear_gelu(x.to(dtype), self.fc1.weight.to(dtype), self.fc1.bias))
        return self.fc2(self.act(self.fc1(x)))


def _fused_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype | None:
    """The half precision a fused inference kernel computes x @ weight^T in (autocast's, or x's
    own), or None where PyTorch's layers must run: off the GPU, without Triton, where a gradient
    is wanted, or in fp32 (the fused kernel's fp32 dot would be TF32, which F.linear's is not)."""
    if not x.is_cuda or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
        return None
    dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else x.dtype
    return dtype if _HAS_TRITON and dtype in (torch.float16, torch.bfloat16) else None


class VSSBlock(nn.Module):
    """x + DropPath(SS2D(LN(x))), then x + DropPath(MLP(LN(x))); channels-last."""

    def __init__(self, dim: int, cfg: VMambaConfig, drop_path: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.op = SS2D(dim, cfg.d_state, cfg.ssm_ratio, cfg.dt_rank, cfg.ssm_backend, cfg.z_gate)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, cfg.mlp_ratio)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.op(self.norm(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """v2 stem: two stride-2 3x3 convs (total stride 4) with LayerNorms; returns channels-last."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, dim // 2, 3, stride=2, padding=1)
        self.norm1 = LayerNorm2d(dim // 2)
        self.conv2 = nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(x).permute(0, 2, 3, 1))


class Downsample(nn.Module):
    """v3 downsample: 3x3 stride-2 conv + LayerNorm; channels-last in and out."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, out_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class ChannelsFirst(nn.Module):
    """Runs channels-last blocks on a channels-first (N, C, H, W) map."""

    def __init__(self, blocks: nn.Sequential):
        super().__init__()
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class VMamba(nn.Module):
    """VMamba split at the SR seam (implements `sr_core.models.seam.PretrainedBackbone`).

    `forward_loc` runs the stem and stages 1-3 with their downsamples (stride 32, dims[-1]
    channels); `stage4` and `norm` are separate so the SR head can run them on masked features.
    All three take and return channels-first maps.
    """

    def __init__(self, cfg: VMambaConfig):
        super().__init__()
        dims, depths = list(cfg.dims), list(cfg.depths)
        if len(dims) != 4 or len(depths) != 4:
            raise ValueError("VMamba needs four stage dims and depths")
        rates = torch.linspace(0, cfg.drop_path_rate, sum(depths)).tolist()
        self.patch_embed = PatchEmbed(dims[0])
        stages, start = [], 0
        for i in range(3):
            blocks = [VSSBlock(dims[i], cfg, rates[start + j]) for j in range(depths[i])]
            start += depths[i]
            stages.append(nn.Sequential(*blocks, Downsample(dims[i], dims[i + 1])))
        self.stages = nn.Sequential(*stages)
        self.stage4 = ChannelsFirst(nn.Sequential(*[VSSBlock(dims[3], cfg, rates[start + j]) for j in range(depths[3])]))
        self.norm = LayerNorm2d(dims[3])
        self.loc_channels = dims[3]
        self.out_channels = dims[3]
        self.apply(_init_weights)

    def forward_loc(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.patch_embed(x)).permute(0, 3, 1, 2)

    def pretrained_names(self) -> dict[str, str]:
        """{name in an official VMamba state dict: name here} for every tensor here.

        Follows MzeroMiko/VMamba, classification/models/vmamba.py, `VSSM` with
        patchembed_version "v2", downsample_version "v3", d_state 1, ssm_ratio 2,
        ssm_conv_bias False, mlp_ratio 4, in two tiny configs:

        - vssm1_tiny_0220 (configs/vssm1/vssm_tiny_224_0220.yaml: forward type v2, depths
          [2, 2, 4, 2]) is our default, tensor for tensor;
        - vssm1_tiny_0230, the released `vssm_tiny_0230_ckpt_epoch_262.pth` (VMamba-T[s2l5];
          configs/vssm1/vssm_tiny_224_0230.yaml, forward type v3noz, and its successor
          configs/vssm/vmambav2_tiny_224.yaml, v05_noz with "ln2d": depths [2, 2, 5, 2], no
          SiLU(z) gate) needs ours built with `depths=[2, 2, 5, 2], z_gate=False`; otherwise
          its in_proj shapes differ.

        Official names -> ours:

            patch_embed.{0,2,5,7}          (conv, LN, conv, LN)  patch_embed.{conv1,norm1,conv2,norm2}
            layers.{i}.blocks.{j}.*        (VSSBlock, as ours)   stages.{i}.{j}.* (i < 3), stage4.blocks.{j}.*
            layers.{i}.downsample.{1,3}    (conv, LN; i < 3)     stages.{i}.{depth_i}.{conv,norm}
            classifier.norm                (LN after layers.3)   norm

        "ln" and "ln2d" norms, Linear and Linear2d hold the same tensors. The SSM tensors
        (x_proj_weight (4, R + 2N, D), dt_projs_weight (4, D, R), dt_projs_bias (4, D), A_logs
        (4D, N), Ds (4D,)) are direction-major in the same scan order as here (row, column,
        both reversed), so nothing is reshaped. `classifier.head` (ImageNet) and conv biases of
        files trained with ssm_conv_bias True have no counterpart and stay unexpected.
        """
        names: dict[str, str] = {}
        for index, part in (("0", "conv1"), ("2", "norm1"), ("5", "conv2"), ("7", "norm2")):
            names.update(_renamed(getattr(self.patch_embed, part), f"patch_embed.{index}", f"patch_embed.{part}"))
        for i, stage in enumerate(self.stages):
            *blocks, down = stage
            for j, block in enumerate(blocks):
                names.update(_renamed(block, f"layers.{i}.blocks.{j}", f"stages.{i}.{j}"))
            names.update(_renamed(down.conv, f"layers.{i}.downsample.1", f"stages.{i}.{len(blocks)}.conv"))
            names.update(_renamed(down.norm, f"layers.{i}.downsample.3", f"stages.{i}.{len(blocks)}.norm"))
        for j, block in enumerate(self.stage4.blocks):
            names.update(_renamed(block, f"layers.3.blocks.{j}", f"stage4.blocks.{j}"))
        names.update(_renamed(self.norm, "classifier.norm", "norm"))
        return names


def _renamed(module: nn.Module, theirs: str, ours: str) -> dict[str, str]:
    """{theirs.k: ours.k} for every tensor k of `module`: one module under two prefixes."""
    return {f"{theirs}.{k}": f"{ours}.{k}" for k in module.state_dict()}


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
