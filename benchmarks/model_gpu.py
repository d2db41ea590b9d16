"""Whole-model GPU speed: training and inference images/s and peak memory, per SS2D backend.

Two configurations at 256 px, bf16 autocast, random init (as the official VMamba numbers in
issue 5 were measured): the VMamba tiny 0220 backbone + LayerNorm/avgpool/linear head (the
like-for-like comparison with the official implementation), and the full SR model (CAM head,
FPM branch and foreground-control loss). Training uses SGD with Nesterov momentum.

Run: python benchmarks/model_gpu.py [--batch 64] [--backends torch,triton] [--modes eager,compile,graphs] [--out FILE.md]

Modes (each on top of a backend): eager; compile = torch.compile(model) for both steps;
graphs = the eager inference forward captured once in a CUDA graph and replayed (fixed shape;
training stays eager); compile+graphs = torch.compile(mode="reduce-overhead") for inference
and torch.compile for training. Every non-eager mode reports its largest logit difference
from eager on the same input, so a faster mode that changes results shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cuda_time  # noqa: E402

from sr_core.kernels import available_backends  # noqa: E402
from sr_core.models import create_model  # noqa: E402


class BackboneClassifier(nn.Module):
    """VMamba backbone + LayerNorm + global average pool + linear: the official layout."""

    def __init__(self, sr_model: nn.Module, num_classes: int = 1000):
        super().__init__()
        self.backbone = sr_model.backbone
        self.head = nn.Linear(self.backbone.out_channels, num_classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        feats = self.backbone.norm(self.backbone.stage4(self.backbone.forward_loc(images)))
        logits = self.head(feats.mean(dim=(2, 3)))
        out = {"logits": logits}
        if labels is not None:
            out["losses"] = {"total": nn.functional.cross_entropy(logits.float(), labels)}
        return out


def build(kind: str, backend: str) -> nn.Module:
    sr = create_model("sr_vmamba_tiny", num_classes=8, ssm_backend=backend)
    return BackboneClassifier(sr) if kind == "backbone+linear" else sr


def _logits(fn, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
        return fn(x)["logits"].float().clone()


def _graphed(model: nn.Module, x: torch.Tensor):
    """Capture one inference forward at x's shape in a CUDA graph; returns (replay, output)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            _logits(model, x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16), torch.cuda.graph(graph):
        out = model(x)["logits"]
    return graph.replay, out


def measure(kind: str, backend: str, batch: int, size: int, warmup: int, repeats: int, mode: str = "eager") -> dict:
    torch.manual_seed(0)
    model = build(kind, backend).cuda()
    num_classes = model.head.out_features if kind == "backbone+linear" else model.num_classes
    x = torch.randn(batch, 3, size, size, device="cuda")
    y = torch.randint(0, num_classes, (batch,), device="cuda")
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    train_fn = torch.compile(model) if mode in ("compile", "compile+graphs") else model
    model.eval()
    reference = _logits(model, x)
    start = time.perf_counter()
    if mode == "graphs":
        replay, out = _graphed(model, x)
        infer, check = replay, lambda: (replay(), out.float().clone())[1]
    else:
        infer_fn = {"eager": model, "compile": train_fn,
                    "compile+graphs": torch.compile(model, mode="reduce-overhead")}[mode]

        def infer():
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
                infer_fn(x)

        check = lambda: _logits(infer_fn, x)  # noqa: E731
    diff = float((check() - reference).abs().max())
    setup_s = time.perf_counter() - start

    def train_step():
        with torch.autocast("cuda", torch.bfloat16):
            loss = train_fn(x, y)["losses"]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    infer_ms = cuda_time(infer, repeats, warmup)
    model.train()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    train_step()  # compiles the training graph in the compile modes
    setup_s += time.perf_counter() - start
    train_ms = cuda_time(train_step, repeats, warmup)
    peak = torch.cuda.max_memory_allocated() / 2**30
    params = sum(p.numel() for p in model.parameters()) / 1e6
    del model, opt, train_fn
    torch.cuda.empty_cache()
    return {"kind": kind, "backend": backend, "mode": mode, "params_m": params, "infer_img_s": batch / infer_ms * 1e3,
            "train_img_s": batch / train_ms * 1e3, "train_peak_gib": peak, "max_logit_diff": diff,
            "setup_s": setup_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backends", default=",".join(b for b in ("torch", "triton") if b in available_backends()))
    parser.add_argument("--modes", default="eager", help="comma-separated: eager, compile, graphs, compile+graphs")
    parser.add_argument("--kinds", default="backbone+linear,full SR")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", help="also append the table to this markdown file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("model_gpu.py needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    lines = [f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; batch {args.batch}, "
             f"{args.size} px, bf16 autocast, SGD Nesterov, CUDA-event medians of {args.repeats} after "
             f"{args.warmup} warm-up", "",
             "| model | SS2D backend | mode | params | inference img/s | training img/s | training peak GiB "
             "| max logit diff vs eager | set-up s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for kind in args.kinds.split(","):
        for backend in args.backends.split(","):
            for mode in args.modes.split(","):
                name = f"| sr_vmamba_tiny {kind} | {backend} | {mode} |"
                try:
                    r = measure(kind, backend, args.batch, args.size, args.warmup, args.repeats, mode)
                    line = (f"{name} {r['params_m']:.1f}M | {r['infer_img_s']:.0f} | {r['train_img_s']:.0f} | "
                            f"{r['train_peak_gib']:.1f} | {r['max_logit_diff']:.2e} | {r['setup_s']:.0f} |")
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    line = f"{name} - | OOM | OOM | - | - | - |"
                except Exception as exc:  # a mode that fails (e.g. a compile error) is a row, not a crash
                    torch.cuda.empty_cache()
                    line = f"{name} - | failed: {' '.join(str(exc).split())[:120]} | - | - | - | - |"
                print(line, flush=True)
                lines.append(line)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
