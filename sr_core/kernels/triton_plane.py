"""Plane-tiled SS2D on the GPU in Triton: one program per (batch, channel block), whole planes.

`ss2d_scan_triton_plane` has the signature and semantics of `sr_core.kernels.reference.ss2d_scan`
and registers itself as the "triton_plane" backend on import, the one "auto" takes on CUDA
(faster than the chunked "triton" backend, triton_ss2d.py, at every stage shape: RESULTS.md,
sessions 7 and 8). The design and why it
differs from the chunked kernels are in triton_plane_fwd.py and triton_plane_bwd.py: with
d_state 1 every direction is one `tl.associative_scan` over a whole flattened plane held in
registers, so there are no segment carries: one launch forward, and one backward followed
by one kernel reducing the dt projection's gradients (`_dt_grads_kernel`).

What it covers, and where it hands over to the chunked backend (the same results at that
backend's speed):
* d_state 1 only (the SR configuration); N > 1 goes to "triton".
* planes of up to _MAX_PLANE padded positions (H and W rounded up to powers of two): 64 x 64
  and 64 x 128 fit; 128 x 128 (stage 1 at 512 px) goes to "triton". Bands of rows with a
  carried state would cover it, but the column directions then cross every band at every
  column and need a second pass; not built.

Layout: the kernels read and write contiguous (B, D, H, W) planes (a channel-last store from
a block of one or two channels would not coalesce). In the model x comes from a depthwise conv
on a channels-last map and is itself channels last: by default (`channels_last_io`) a tiled
Triton transpose (triton_layout.py) makes its planes, and turns y back into contiguous
channels-last memory, and dy and dx the same way in the backward. Any other x is made
contiguous (B, D, H, W) and y comes back as a (B, H, W, D) view of the planes (a caller that
needs `.view` on it must call `.contiguous()` first); with channels_last_io=False so does a
channels-last x, through PyTorch's strided copies.

The per-position projection x_proj is one batched GEMM in PyTorch (autograd carries its
gradient to x and x_proj_weight), as in the chunked backend.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields, replace

import torch

from sr_core.kernels import TRITON_INTERPRET, register_backend
from sr_core.kernels.reference import project_positions

try:
    import triton

    from sr_core.kernels import triton_ss2d
    from sr_core.kernels.triton_layout import from_planes, is_channels_last, to_planes
    from sr_core.kernels.triton_plane_bwd import _dt_grads_kernel, _plane_bwd_kernel
    from sr_core.kernels.triton_plane_fwd import _plane_fwd_kernel
except ImportError:  # no Triton: the backend is simply not registered
    triton = None

__all__ = ["plane_supported", "ss2d_scan_triton_plane"]

_MAX_PLANE = 8192  # padded positions a program holds per channel
_ELEMS = 4096  # tile elements (channels x padded positions) a program aims for
_MAX_BLOCK_D = 64
_PARTS = 8  # partial rows of the parameter gradients (shared round-robin by batch)
_COL_MODES = ("rows", "transpose")  # "rows": the kernels' PART 0; "transpose": PART 1 then 2
_DT_GRADS = ("atomic", "gemm", "fused")  # in the scan kernel; or from a stored dz by two GEMMs, or by one kernel
_DT_PARTIAL_FLOATS = 1 << 22  # "fused": the most fp32 values its partial rows of d(dt_w) take (16 MiB)
_DT_PROGRAMS = 2048  # "fused": programs it aims for (the channels split over programs below that)
_TRANSPOSE_FROM = 1024  # padded plane positions from which "transpose" is the default col_mode
_BWD_TRANSPOSE_FROM = 64  # the same for the backward's (bwd_col_mode)
_WIDE_PLANE = 256  # padded plane positions (16 x 16) whose forward and backward take 2 * _ELEMS a program
_TRANSPOSE_FWD_PER_THREAD = 16  # "transpose" mode: a forward tile's elements a thread (sets the warps)
_TRANSPOSE_FWD_MAXNREG = 128  # the forward launches' default register cap in the "transpose" mode
_BWD_MAXNREG = 128  # the backward launches' default register cap under 16 warps


@dataclass(frozen=True)
class _Config:
    hp: int  # H padded to a power of two
    wp: int  # W padded to a power of two
    block_d: int  # channels per program (forward)
    num_warps: int
    bwd_block_d: int  # the backward's (it holds about twice as many live tiles)
    bwd_num_warps: int
    col_mode: int  # how the column directions are reached: _COL_MODES
    bwd_col_mode: int  # the backward's (`bwd_col_mode` of ss2d_scan_triton_plane)
    dense: bool  # power-of-two planes addressed as contiguous runs (plane_order's DENSE)
    dt_grad: int  # backward: how dt_w's and dt_lowrank's gradients are reduced (_DT_GRADS)
    r_pad: int  # dt rank padded for tl.dot
    maxnreg: int = 0  # ptxas register cap of the forward launches (0: none)
    bwd_maxnreg: int = 0  # the backward's
    copy_t: bool = False  # "transpose" mode: x^T, dy^T and the transposed add as PyTorch copies
    mirror: bool = True  # dense planes: each forward direction and its reverse in one scan
    plane_chunk: int = 0  # backward: positions a partial sum over the plane (0: the plane)
    pos_group: int = 0  # backward: channels a partial sum over the channels (0: the block)
    lg2_softplus: bool = True  # half-precision operands: the softplus by MUFU.LG2 (`softplus_lg2`)
    col_scan: bool = True  # "rows" forward: the column pair scanned down the rows, not on transposes


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def plane_supported(h: int, w: int, d_state: int) -> bool:
    """Whether the plane kernels take this shape (otherwise the chunked backend does)."""
    return d_state == 1 and _pow2(h) * _pow2(w) <= _MAX_PLANE


def _warps(elems: int) -> int:
    # About 8 fp32 elements of a tile per thread: a 4096-element tile on 16 warps (the "rows"
    # forward and every backward; the "transpose" forward takes 16 a thread). Compiled
    # for sm_90 (ptxas), 8 warps took 200-224 registers a thread forward (one program per
    # multiprocessor), 16 warps 110-128 with no or few spills.
    return max(4, min(16, elems // 256))


def _config(h: int, w: int, d: int, r: int, block_d: int | None = None, num_warps: int | None = None,
            bwd_block_d: int | None = None, bwd_num_warps: int | None = None,
            col_mode: str | None = None, dt_grad: str | None = None, tile_elems: int | None = None,
            bwd_tile_elems: int | None = None, dense: bool = True, maxnreg: int | None = None,
            bwd_maxnreg: int | None = None, copy_t: bool = False, mirror: bool = True,
            bwd_col_mode: str | None = None, plane_chunk: int | None = None,
            pos_group: int | None = None, lg2_softplus: bool = True,
            col_scan: bool = True) -> _Config:
    """About tile_elems (default _ELEMS, twice that at 16 x 16 and 64 x 64; in "transpose" mode
    one channel a program) tile elements a program: 64 channels of an 8 x 8 plane; the backward
    _ELEMS, twice that at 16 x 16 (32 channels), a quarter from 32 x 32 up (one channel a
    program), unless bwd_tile_elems says otherwise.

    A whole tile of every live operand sits in registers, so the block shrinks as the plane
    grows; the warps grow with the tile. dt_grad "atomic" reduces d(dt_lowrank) over the
    channel block in the kernel and adds it with atomics (R values a position and direction);
    "gemm" stores dz and leaves that reduction and dt_w's to two GEMMs, "fused" (the default)
    to one Triton kernel that reads dz once (`_dt_grads_kernel`; on an H200, session 21, bf16
    forward+backward of GPU time went from 3.363 to 3.198 ms at stage 1 and was faster at every
    stage, fp32 at all but stage 3: 0.134 ms for that kernel where the GEMMs took 0.262). On
    narrow blocks the atomics would be one per channel, position, rank and direction (1.2 G
    at stage 1, batch 64); on wide ones the in-kernel dots' operands spill: compiled for
    sm_90 at the stage shapes, the backward spilled 140-270 bytes a thread with "gemm" and
    800 (stage 3) to 5,150 (stage 4) with "atomic".
    """
    hp, wp = _pow2(h), _pow2(w)
    lp = hp * wp
    cap = min(_MAX_BLOCK_D, _pow2(d))
    # Planes of 32 x 32 and up (stages 1-2 at 256 px) reach the column directions through x's
    # transpose by default, one channel a forward program: on an H200 (session 8) that took
    # stage 1 from 1.65 / 5.79 to 1.58 / 5.55 ms forward / forward+backward and stage 2 from
    # 1.08 / 4.12 to 0.81 / 3.54 ms; on 16 x 16 and 8 x 8 planes it was slower than "rows".
    # In "rows" mode a 64 x 64 plane's forward takes two channels (1.14-1.22x faster than one
    # there, session 7); the backward keeps one (twice the live tiles).
    col_mode = col_mode or ("transpose" if lp >= _TRANSPOSE_FROM else "rows")
    # The backward reaches the column directions through the transpose from 8 x 8 up, also where
    # the forward does not: on an H200 (session 22, `kernels.py --graph`, bf16) that took stage 3's
    # forward+backward from 1.724 to 1.545 ms and stage 4's from 0.828 to 0.812 (forwards
    # unchanged); its "rows" backward holds 6,456 instructions and spills, the two launches
    # 2,248 and 3,104 and none (sm_90 SASS, session 21). Smaller planes keep the forward's mode.
    bwd_col_mode = bwd_col_mode or ("transpose" if lp >= _BWD_TRANSPOSE_FROM else col_mode)
    for name, mode in (("col_mode", col_mode), ("bwd_col_mode", bwd_col_mode)):
        if mode not in _COL_MODES:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, _COL_MODES))}, got {mode!r}")
    if col_mode == "transpose":
        # One channel a program, on lp / 512 warps (16 tile elements a thread) under a cap of 128
        # registers: two 8-warp programs a multiprocessor at 64 x 64, eight 2-warp ones at 32 x 32.
        # On an H200 (session 24, `kernels.py --graph`, bf16) that took stage 1's forward from
        # 0.715 ms (two channels on 16 warps, one program a multiprocessor) to 0.600, and stage
        # 2's from 0.336 (4 warps capped at 64) to 0.323; one channel at 64 x 64 on 16 warps
        # took 0.697, on 8 warps capped at 96 0.699, at 80 0.902, on 4 warps at 128 0.965.
        fwd_elems = tile_elems or lp
    else:
        # A 16 x 16 plane takes 32 channels (0.285 against 0.295 ms for 16 at stage 3, session 24).
        fwd_elems = tile_elems or (2 * _ELEMS if lp in (_ELEMS, _WIDE_PLANE) else _ELEMS)
    bd = block_d or max(1, min(cap, fwd_elems // lp))
    if num_warps is None and col_mode == "transpose":
        num_warps = max(1, min(16, bd * lp // (32 * _TRANSPOSE_FWD_PER_THREAD)))
    # The backward takes one channel a program from 32 x 32 up: at stage 2 on an H200 (session 9)
    # that was 3.63 -> 3.05 ms forward+backward against four channels; at stages 3-4 (16 and
    # 64 channels a program) one channel was 1.15x and 2.6x slower. A 16 x 16 plane takes 32
    # channels (twice _ELEMS; with the partial sums below, session 23).
    bwd_elems = bwd_tile_elems or tile_elems or (
        _ELEMS // 4 if lp >= _TRANSPOSE_FROM else 2 * _ELEMS if lp == _WIDE_PLANE else _ELEMS)
    bwd_bd = bwd_block_d or max(1, min(cap, bwd_elems // lp))
    for name, v in (("block_d", bd), ("bwd_block_d", bwd_bd)):
        if v & (v - 1):
            raise ValueError(f"{name} must be a power of two, got {v}")
    dt_grad = dt_grad or "fused"
    if dt_grad not in _DT_GRADS:
        raise ValueError(f"dt_grad must be one of {', '.join(map(repr, _DT_GRADS))}, got {dt_grad!r}")
    if maxnreg is None and col_mode == "transpose":
        # Sixteen elements a thread (see above) fit 128 registers: 16 and 0 spill bytes in stage
        # 1's two launches, 2 and 10 in stage 2's (Triton 3.6). Under 16 warps a program the
        # cap is what lets more than one share a multiprocessor (at 16 the threads cap it).
        maxnreg = _TRANSPOSE_FWD_MAXNREG
    # One channel of a 64 x 64 plane backward on 8 warps (16 tile elements a thread, capped at 128
    # registers below, two programs a multiprocessor): on an H200 (session 24, call 5) stage 1's
    # forward+backward took 2.730 ms against 2.964 on 16 warps, though it spills 76 and 68 bytes
    # a thread (Triton 3.6). Stage 2's one channel on 2 warps (16 a thread) took 1.573 against 1.447.
    bwd_warps = bwd_num_warps or (8 if bwd_bd == 1 and lp == _ELEMS else _warps(bwd_bd * lp))
    if bwd_maxnreg is None and bwd_warps < 16:
        # Backward programs under 16 warps (a 16-warp program's 512 threads cap it at 128 anyway): stage 2's
        # one-channel 4-warp launches took 155 registers (Triton 3.6), three programs a
        # multiprocessor; capped at 128 (4 spill bytes in one launch) four fit, and on an H200
        # (session 23, `kernels.py --graph`, bf16) forward+backward went from 1.532 to 1.489 ms.
        bwd_maxnreg = _BWD_MAXNREG
    for name, v in (("maxnreg", maxnreg), ("bwd_maxnreg", bwd_maxnreg)):
        if v and not 24 <= v <= 255:
            raise ValueError(f"{name} must be between 24 and 255 registers, got {v}")
    # The backward's sums across warps (through shared memory, behind a barrier) split into
    # partial sums each added atomically. On an H200 (session 22, `kernels.py --graph`, bf16):
    # one channel a program (32 x 32 and up), a partial sum a warp's run of positions over the
    # plane (256 at stages 1-2) took forward+backward from 3.197 to 3.159 ms at stage 1 and 1.582
    # to 1.557 at stage 2 (runs of 32, 128 atomics to each channel's address: 4.060 and 1.682);
    # wider blocks, a partial sum over the channels a group of BLOCK_D / 16 (16 atomics a
    # position) from 1.547 to 1.468 ms at stage 3 (16 channels) and, with runs of 32 positions
    # over the plane, from 0.813 to 0.786 at stage 4 (64; a group of 1 there: 0.950). 32 channels
    # (stage 3's default since session 23): runs of 32 positions over the plane and the single
    # sum over the channels, 1.416 ms against 1.452 for 16 channels with groups of 1 (session 22,
    # call 5; groups of 1 or 2 channels at 32: 1.506-1.565 in call 4).
    if plane_chunk is None:
        plane_chunk = lp // bwd_warps if bwd_bd == 1 and lp >= _TRANSPOSE_FROM else 32 if bwd_bd >= 32 else 0
    if pos_group is None:
        pos_group = max(1, bwd_bd // 16) if bwd_bd >= 16 and bwd_bd != 32 else 0
    for name, v in (("plane_chunk", plane_chunk), ("pos_group", pos_group)):
        if v < 0 or v & (v - 1):
            raise ValueError(f"{name} must be 0 or a power of two, got {v}")
    return _Config(hp, wp, bd, num_warps or _warps(bd * lp), bwd_bd, bwd_warps,
                   _COL_MODES.index(col_mode), _COL_MODES.index(bwd_col_mode), bool(dense), _DT_GRADS.index(dt_grad),
                   max(16, _pow2(r)), maxnreg or 0, bwd_maxnreg or 0, bool(copy_t), bool(mirror),
                   plane_chunk, pos_group, bool(lg2_softplus), bool(col_scan))


def dot_lowp(dtype: torch.dtype) -> bool:
    """Whether tl.dot multiplies operands of this dtype in half precision (else fp32, as tf32x3).
    The interpreter's dot cannot multiply bf16 (numpy has no bf16): it widens to fp32."""
    return dtype == torch.float16 or (dtype == torch.bfloat16 and not TRITON_INTERPRET)


class _DtGrads:
    """The launch of `_dt_grads_kernel` (dt_grad "fused") over dz (B, 4, D, L).

    Programs of BLOCK_P positions (128, or the plane, at least 16) and all channels, 64 at a time; where that
    makes fewer than _DT_PROGRAMS programs (stages 3-4 at 256 px: 512 and 256) the channels
    are split over up to 8 programs, which then add their d(dt_lowrank) atomically. d(dt_w)
    goes into as many partial rows as _DT_PARTIAL_FLOATS allows (at most 256): fewer programs
    meet at each address.
    """

    def __init__(self, b: int, d: int, length: int, r: int, cfg: _Config):
        self.block_p = max(16, min(128, _pow2(length)))  # tl.dot's K on the GPU is 16 or more
        self.block_d = min(64, max(16, _pow2(d)))
        self.n_pblk = triton.cdiv(length, self.block_p)
        n_dblk = triton.cdiv(d, self.block_d)
        self.n_dsplit = 1
        while self.n_dsplit < min(8, n_dblk) and b * 4 * self.n_pblk * self.n_dsplit < _DT_PROGRAMS:
            self.n_dsplit *= 2
        self.d_per = triton.cdiv(n_dblk, self.n_dsplit) * self.block_d
        self.n_dsplit = triton.cdiv(d, self.d_per)  # no program without channels
        self.grid = (b * 4 * self.n_pblk * self.n_dsplit,)
        rows = max(1, min(256, _DT_PARTIAL_FLOATS // (4 * d * r), self.grid[0]))
        self.n_part = 1 << (rows.bit_length() - 1)
        self.meta = dict(R=r, R_PAD=cfg.r_pad, BLOCK_D=self.block_d, BLOCK_P=self.block_p,
                         SPLIT=self.n_dsplit > 1, num_warps=4)


class _Launch:
    """Sizes and compile-time switches shared by the forward and backward launches."""

    def __init__(self, x: torch.Tensor, x_dbl: torch.Tensor, r: int, cfg: _Config, backward: bool = False):
        self.b, self.d, self.h, self.w = x.shape
        self.block_d = cfg.bwd_block_d if backward else cfg.block_d
        self.n_dblk = triton.cdiv(self.d, self.block_d)
        self.grid = (self.b * self.n_dblk,)
        lp = cfg.hp * cfg.wp
        # tl.dot needs 16 or more rows and columns; narrower blocks multiply-add R times.
        use_dot = self.block_d >= 16 and lp >= 16
        self.meta = dict(R=r, R_PAD=cfg.r_pad, BLOCK_D=self.block_d, HP=cfg.hp, WP=cfg.wp, USE_DOT=use_dot,
                         DOT_LOWP=dot_lowp(x_dbl.dtype), DENSE=cfg.dense and (self.h, self.w) == (cfg.hp, cfg.wp),
                         SP_LG2=cfg.lg2_softplus and x_dbl.dtype in (torch.bfloat16, torch.float16),
                         EVEN_D=self.d % self.block_d == 0,
                         num_warps=cfg.bwd_num_warps if backward else cfg.num_warps)
        cap = cfg.bwd_maxnreg if backward else cfg.maxnreg
        if cap:  # a launch option of Triton's: ptxas' .maxnreg (more programs a multiprocessor)
            self.meta["maxnreg"] = cap
        if backward:
            self.meta["DT_GEMM"] = cfg.dt_grad != _DT_GRADS.index("atomic")
            self.meta["PLANE_CHUNK"] = min(cfg.plane_chunk, lp)
            self.meta["POS_GROUP"] = min(cfg.pos_group, self.block_d)
        else:
            # Mirrored pairs (triton_plane_fwd.fwd_pair_mirrored) on dense planes, in runs of the
            # positions a thread loads at once (16 bytes); 1: a forward and a reverse scan.
            self.meta["RUN"] = min(16 // x.element_size(), lp) if cfg.mirror and self.meta["DENSE"] else 1
            self.meta["COL_SCAN"] = cfg.col_scan


_TRANSPOSE = _COL_MODES.index("transpose")


def _column_slots_transposed(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A copy of t (B, 4, C, H * W) whose direction slots 1 and 3 (the column directions) are
    in the row-major order of the transposed (W, H) map; slots 0 and 2 as they are."""
    b, _, c, length = t.shape
    pairs = t.view(b, 2, 2, c, length)  # (batch, forward/reversed, rows/columns, ...)
    columns = pairs[:, :, 1].view(b, 2, c, h, w).transpose(-1, -2).reshape(b, 2, c, length)
    return torch.stack([pairs[:, :, 0], columns], dim=2).view(b, 4, c, length)


def _parts(x: torch.Tensor, cfg: _Config):
    """The two launches of the "transpose" mode: (part, x's planes, config) for the row
    directions on x and for the column directions on x's transpose, as the row directions there.

    x's transpose is a view: the second launch reads it (and dy's, and writes y's and dx's) in
    the underlying tensors' own order, coalesced, and transposes its tiles in registers
    (`_part_meta`). With cfg.copy_t it is a contiguous copy instead, and so are dy's transpose
    and the transposed add of the second launch's output (on an H200, session 12: 0.45 of the
    1.27 ms of stage 1's forward went to those copies).
    """
    xt = x.transpose(2, 3)
    return ((1, x, cfg), (2, xt.contiguous() if cfg.copy_t else xt, replace(cfg, hp=cfg.wp, wp=cfg.hp)))


def _part_meta(part: int, cfg: _Config) -> dict:
    """A launch's PART and whether it reads and writes transposed views (XT) and adds its
    output to the first launch's (ACCUM): the second launch of the "transpose" mode without copy_t."""
    in_registers = part == 2 and not cfg.copy_t
    return dict(PART=part, XT=in_registers, ACCUM=in_registers)


def _base(view: torch.Tensor, base: torch.Tensor, meta: dict) -> torch.Tensor:
    """What a launch is given for a tensor it reads: under XT the transposed view's own tensor
    (its strides go in beside it, the view's), else the tensor itself. Kernels never get a
    strided view as an argument: torch.compile's functionalization of a kernel's arguments may
    copy a view without its strides, while the strides passed beside it stay the view's."""
    return base if meta["XT"] else view


def _strides_seen(out: torch.Tensor, meta: dict) -> tuple[int, ...]:
    """The strides a launch addresses its output with: under ACCUM the first launch's output
    seen transposed (the tensor itself is the argument, see `_base`), else its own."""
    return out.transpose(2, 3).stride() if meta["ACCUM"] else out.stride()


def _scan_forward(x, x_dbl, dtw, dtb, A_logs, Ds, cfg: _Config) -> torch.Tensor:
    """The forward launches: merged y (B, D, H, W) from contiguous planes x and contiguous operands."""
    r = dtw.shape[2]
    launches = _parts(x, cfg) if cfg.col_mode == _TRANSPOSE else ((0, x, cfg),)
    y = None
    for part, planes, pcfg in launches:
        g = _Launch(planes, x_dbl, r, pcfg)
        meta = _part_meta(part, cfg)
        # The second launch adds into the first one's y, seen transposed, or writes its own.
        out = y if meta["ACCUM"] else triton_ss2d._empty((g.b, g.d, g.h, g.w), x.dtype, x.device)
        _plane_fwd_kernel[g.grid](_base(planes, x, meta), x_dbl, dtw, dtb, A_logs, Ds, out, g.h, g.w, g.d,
                                  g.n_dblk, *planes.stride(), *_strides_seen(out, meta), **meta, **g.meta)
        if y is None:
            y = out
        elif not meta["ACCUM"]:
            y.add_(out.transpose(2, 3))
    return y


@torch.library.custom_op("sr_core::plane_scan_forward", mutates_args=())
def _scan_forward_op(x: torch.Tensor, x_dbl: torch.Tensor, dtw: torch.Tensor, dtb: torch.Tensor,
                     A_logs: torch.Tensor, Ds: torch.Tensor, cfg: list[int]) -> torch.Tensor:
    """`_scan_forward` as an operator that torch.compile calls as it is (`_PlaneScan` takes it and
    `_scan_backward_op` while compiling): Triton's own launcher then launches the kernels, as in
    eager mode. Traced as plain Triton kernels under Inductor's launches, the forward kernels of
    a compiled sr_vmamba_tiny inference step took 4.155 ms against 3.921 ms eager (H200, session
    18; triton_ss2d_io's LayerNorm: 1.35 against 0.70 ms). cfg: the `_Config`'s fields in order
    (an operator takes no dataclass)."""
    return _scan_forward(x, x_dbl.contiguous(), dtw.contiguous(), dtb.contiguous(), A_logs.contiguous(),
                         Ds.contiguous(), _config_of(cfg))


@_scan_forward_op.register_fake
def _(x, x_dbl, dtw, dtb, A_logs, Ds, cfg):
    return x.new_empty(x.shape)


def _config_values(cfg: _Config) -> list[int]:
    """cfg's fields in order, bools as 0 / 1: what the operators take for it."""
    return [int(v) for v in astuple(cfg)]


def _config_of(values: list[int]) -> _Config:
    """The `_Config` whose `_config_values` are `values`."""
    return _Config(*(bool(v) if f.type == "bool" else int(v) for f, v in zip(fields(_Config), values)))


class _PlaneScan(torch.autograd.Function):
    """(x, x_dbl, dt weight, dt bias, A_logs, Ds) -> merged y (B, D, H, W), Triton both ways.

    In the "transpose" mode x_dbl arrives with its column slots transposed
    (`_column_slots_transposed`) and each pass is two launches, whose outputs are added.
    """

    @staticmethod
    def forward(ctx, x, x_dbl, dtw, dtb, A_logs, Ds, cfg: _Config):
        dtw, dtb, A_logs, Ds, x_dbl = (t.contiguous() for t in (dtw, dtb, A_logs, Ds, x_dbl))
        if torch.compiler.is_compiling():
            y = _scan_forward_op(x, x_dbl, dtw, dtb, A_logs, Ds, _config_values(cfg))
        else:
            y = _scan_forward(x, x_dbl, dtw, dtb, A_logs, Ds, cfg)
        ctx.save_for_backward(x, x_dbl, dtw, dtb, A_logs, Ds)
        ctx.cfg = cfg
        return y

    @staticmethod
    def backward(ctx, gy):
        saved = ctx.saved_tensors
        if torch.compiler.is_compiling():
            grads = _scan_backward_op(*saved, gy, _config_values(ctx.cfg))
        else:
            grads = _scan_backward(*saved, gy, ctx.cfg)
        return (*grads, None)


def _scan_backward(x, x_dbl, dtw, dtb, A_logs, Ds, gy, cfg: _Config) -> tuple[torch.Tensor, ...]:
    """The backward launches and the reductions after them: the gradients of x, x_dbl, dtw,
    dtb, A_logs and Ds, from the forward's contiguous operands and dy."""
    r = dtw.shape[2]
    b, d, h, w = x.shape
    dev = x.device
    # dy usually arrives as the transposed view of a channels-last gradient: one copy
    # makes its planes contiguous, as the kernel's coalesced loads need.
    gy = gy.contiguous()
    # Atomic targets start at zero. Both launches of the "transpose" mode add into the same
    # buffers, each into its own direction slots (dxdbl's and dz's column slots in the
    # transposed order, as x_dbl's are).
    dxdbl = torch.zeros(x_dbl.shape, dtype=torch.float32, device=dev)
    n_part = min(b, _PARTS)
    fused = cfg.dt_grad == _DT_GRADS.index("fused")
    dt = _DtGrads(b, d, h * w, r, cfg) if fused else None
    pdw = torch.zeros((dt.n_part if fused else n_part, 4, d, r), dtype=torch.float32, device=dev)
    pdb = torch.zeros((n_part, 4, d), dtype=torch.float32, device=dev)
    pda = torch.zeros((n_part, 4, d), dtype=torch.float32, device=dev)
    pdd = torch.zeros((n_part, d), dtype=torch.float32, device=dev)
    # dz (B, 4, D, H*W) in x's dtype, where _dt_grads_kernel or the GEMMs take the dt gradients.
    stored_dz = cfg.dt_grad != _DT_GRADS.index("atomic")
    dz = triton_ss2d._empty((b, 4, d, h * w) if stored_dz else (1,), x.dtype, dev)
    transposed = cfg.bwd_col_mode == _TRANSPOSE
    if transposed != (cfg.col_mode == _TRANSPOSE):
        # The backward reaches the column directions the other way from the forward: x_dbl's
        # column slots to the backward's order (a copy of 2 (R + 2) rows a position), and
        # d(x_dbl)'s back to the forward's at the end.
        x_dbl = _column_slots_transposed(x_dbl, *((h, w) if transposed else (w, h)))
    dx = None
    # With copy_t x's transpose is made again rather than kept from the forward: one copy now
    # instead of a second copy of x held for every block until the backward.
    for part, planes, pcfg in _parts(x, cfg) if transposed else ((0, x, cfg),):
        g = _Launch(planes, x_dbl, r, pcfg, backward=True)
        meta = _part_meta(part, cfg)
        grad = gy if part != 2 else gy.transpose(2, 3) if meta["XT"] else gy.transpose(2, 3).contiguous()
        out = dx if meta["ACCUM"] else triton_ss2d._empty((g.b, g.d, g.h, g.w), x.dtype, dev)
        _plane_bwd_kernel[g.grid](_base(planes, x, meta), x_dbl, dtw, dtb, A_logs, Ds, _base(grad, gy, meta), out,
                                  dxdbl, pdw, pdb, pda, pdd, dz, g.h, g.w, g.d, g.n_dblk, n_part,
                                  *planes.stride(), *grad.stride(), *_strides_seen(out, meta), **meta, **g.meta)
        if dx is None:
            dx = out
        elif not meta["ACCUM"]:
            dx.add_(out.transpose(2, 3))
    if fused:
        _dt_grads_kernel[dt.grid](dz, x_dbl, dtw, dxdbl, pdw, h * w, d, dt.n_pblk, dt.n_dsplit, dt.d_per, dt.n_part,
                                  **dt.meta, DOT_LOWP=dot_lowp(x_dbl.dtype))
    d_w = pdw.sum(0)
    if cfg.dt_grad == _DT_GRADS.index("gemm"):
        # d(dt_lowrank)[b, k] = dt_w[k]^T dz[b, k]; d(dt_w)[k] = sum_b dz[b, k] dt_lowrank[b, k]^T.
        dxdbl[:, :, :r] += torch.matmul(dtw.transpose(1, 2).to(dz.dtype), dz)
        d_w = torch.matmul(dz, x_dbl[:, :, :r].transpose(2, 3).to(dz.dtype)).sum(0, dtype=torch.float32)
    d_ds = pdd.sum(0).repeat(4)
    if transposed != (cfg.col_mode == _TRANSPOSE):
        dxdbl = _column_slots_transposed(dxdbl, *((w, h) if transposed else (h, w)))
    # In the "transpose" mode this is the gradient of the transposed-slot x_dbl the forward
    # was given; `_column_slots_transposed`'s own backward turns it back.
    return (dx, dxdbl.to(x_dbl.dtype), d_w.to(dtw.dtype), pdb.sum(0).to(dtb.dtype),
            pda.sum(0).reshape(4 * d, 1).to(A_logs.dtype), d_ds.to(Ds.dtype))


@torch.library.custom_op("sr_core::plane_scan_backward", mutates_args=())
def _scan_backward_op(x: torch.Tensor, x_dbl: torch.Tensor, dtw: torch.Tensor, dtb: torch.Tensor,
                      A_logs: torch.Tensor, Ds: torch.Tensor, gy: torch.Tensor,
                      cfg: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                               torch.Tensor, torch.Tensor]:
    """`_scan_backward` as an operator torch.compile calls as it is (see `_scan_forward_op`)."""
    return _scan_backward(x, x_dbl, dtw, dtb, A_logs, Ds, gy, _config_of(cfg))


@_scan_backward_op.register_fake
def _(x, x_dbl, dtw, dtb, A_logs, Ds, gy, cfg):
    return (x.new_empty(x.shape), x_dbl.new_empty(x_dbl.shape), dtw.new_empty(dtw.shape), dtb.new_empty(dtb.shape),
            A_logs.new_empty(A_logs.shape), Ds.new_empty(Ds.shape))


def ss2d_scan_triton_plane(
    x: torch.Tensor,
    x_proj_weight: torch.Tensor,
    dt_projs_weight: torch.Tensor,
    dt_projs_bias: torch.Tensor,
    A_logs: torch.Tensor,
    Ds: torch.Tensor,
    *,
    block_d: int | None = None,
    num_warps: int | None = None,
    bwd_block_d: int | None = None,
    bwd_num_warps: int | None = None,
    col_mode: str | None = None,
    dt_grad: str | None = None,
    tile_elems: int | None = None,
    bwd_tile_elems: int | None = None,
    dense: bool = True,
    maxnreg: int | None = None,
    bwd_maxnreg: int | None = None,
    copy_t: bool = False,
    channels_last_io: bool = True,
    mirror: bool = True,
    bwd_col_mode: str | None = None,
    plane_chunk: int | None = None,
    pos_group: int | None = None,
    lg2_softplus: bool = True,
    col_scan: bool = True,
) -> torch.Tensor:
    """SS2D core on the plane kernels; same arguments and result as `reference.ss2d_scan`.

    Args:
        x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds: as for
            `reference.ss2d_scan`; x may have any strides (it is made contiguous first).
        block_d, num_warps, bwd_block_d, bwd_num_warps: override the channels per program and
            the warps (powers of two; for tests and tuning).
        col_mode: how the column-major directions are reached (None: "transpose" for planes of
            32 x 32 padded positions and more, "rows" below; see `_config`). "rows": their
            coefficients are read and computed in row-major order, coalesced, and only the
            scans' operands are transposed in registers; "transpose": two launches, the row
            directions on x and the column directions as the row directions of x's transpose
            (a copy of x_dbl's column rows; the second launch reads x and dy as transposed
            views, transposes its tiles in registers and adds into the first launch's output:
            `_parts`, `copy_t`), so no direction scans a transposed tile.
        bwd_col_mode: the backward's col_mode (None: "transpose" for planes of 8 x 8 padded
            positions and more, else col_mode's; see `_config`). Where it differs from
            col_mode, x_dbl's column slots are transposed for the backward and d(x_dbl)'s back.
        plane_chunk: the backward's sums over the plane (the gradients of A_logs, the dt bias
            and D a channel): 0 one sum over the whole plane, which crosses the program's warps
            through shared memory behind a barrier; otherwise a partial sum a run of
            plane_chunk positions (a power of two; inside a warp where its runs fit) and an
            atomic add each (None: see `_config`).
        pos_group: the same for the sums over a block's channels (dB, dC a position): 0 one
            sum over the block, else one a group of pos_group channels (None: see `_config`).
        lg2_softplus: where x is bf16 or fp16, delta's softplus by the GPU's log2 unit
            (triton_ss2d_fwd.softplus_lg2: 6 instructions, absolute error about 2e-7); False,
            and always for fp32, the polynomial `softplus` (12, accurate in relative terms).
        dt_grad: "atomic", "gemm" or "fused" (None: "fused"), how the backward reduces the dt
            projection's gradients (see `_config`).
        tile_elems: the tile size a program aims for when block_d is not given (channels x
            padded positions; default 4096), so one number sizes every stage's blocks.
            At one channel a program (stage 1) every program reads 4 * (R + 2) x_dbl rows
            of its batch for one plane of x, 32 values a position from L2 (3.2 GB at batch
            64): 8192 halves that, at the price of spills (see benchmarks/RESULTS.md).
        bwd_tile_elems: the same for the backward when bwd_block_d is not given (default:
            tile_elems if given, else 4096, 8192 on 16 x 16 padded planes, or 1024 from 32 x 32
            padded positions up: one channel a program there).
        maxnreg, bwd_maxnreg: ptxas register caps of the forward / backward launches (0: the
            compiler's choice; None: the default, which is 128 for the forward in the
            "transpose" mode (one channel a program on 16 elements a thread: two 8-warp programs
            a multiprocessor at stage 1, session 24) and none otherwise, and 128 for backward
            launches under 16 warps, see `_config`). At stages 3-4 ("rows" mode, 16 warps) a
            forward cap of 64 was 1.1x faster in one call and level in the next (session 13),
            so no cap there.
        copy_t: in the "transpose" mode, make x's and dy's transposes and add the second
            launch's output as PyTorch copies (the form measured until session 12) instead of
            transposing tiles in the kernels' registers (`_parts`).
        mirror: on power-of-two planes, scan each forward direction together with its reverse,
            the reversed one loaded backwards (triton_plane_fwd.fwd_pair_mirrored); False: a
            forward and a reverse scan each.
        col_scan: in the "rows" forward on dense planes (mirror), the column pair scanned down
            each column and across the columns' compositions (triton_plane_fwd.col_scan_pair) on
            the row-major tiles; False: on tiles transposed through shared memory.
        channels_last_io: when x is channels last (as the model's depthwise conv makes it),
            make its planes contiguous, and hand y back in channels-last memory, by the tiled
            transposes of triton_layout.py (which also turn dy and dx) instead of PyTorch's
            strided copies (x's here, the LayerNorm's on y, dy's in the backward); other
            layouts are unaffected. On by default: on an H200 (session 14, one call, the
            backbone + linear at batch 64) it took eager inference / training from 2,915 / 801
            to 3,278 / 960 img/s and compiled from 5,106 / 1,299 to 5,299 / 1,345. False: the
            PyTorch copies (for comparison).
        dense: address power-of-two planes (every stage at 256 px) as contiguous runs, so
            that each thread holds neighbouring positions; False keeps the general
            (row, column) addressing everywhere (for comparison).

    Returns:
        (B, H, W, D) in x's dtype, computed in fp32: a view of a (B, D, H, W) tensor (with
        channels_last_io and a channels-last x: a contiguous tensor). Shapes
        outside `plane_supported` go to the chunked "triton" backend.
    """
    if triton is None:
        raise RuntimeError("Triton is not installed")
    b, d, h, w = x.shape
    if not plane_supported(h, w, A_logs.shape[1]):
        return triton_ss2d.ss2d_scan_triton(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds)
    r = dt_projs_weight.shape[2]
    cfg = _config(h, w, d, r, block_d, num_warps, bwd_block_d, bwd_num_warps, col_mode, dt_grad, tile_elems,
                  bwd_tile_elems, dense, maxnreg, bwd_maxnreg, copy_t, mirror, bwd_col_mode, plane_chunk, pos_group,
                  lg2_softplus, col_scan)
    transposed_io = channels_last_io and is_channels_last(x)
    x = to_planes(x) if transposed_io else x.contiguous()
    x_dbl = project_positions(x_proj_weight, x, x.dtype)
    if cfg.col_mode == _TRANSPOSE:
        x_dbl = _column_slots_transposed(x_dbl, h, w)  # differentiable: autograd turns its gradient back
    y = _PlaneScan.apply(x, x_dbl, dt_projs_weight, dt_projs_bias, A_logs, Ds, cfg)
    return (from_planes(y) if transposed_io else y).permute(0, 2, 3, 1)


if triton is not None:
    register_backend("triton_plane", ss2d_scan_triton_plane)
