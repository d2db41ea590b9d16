"""Whole-model GPU speed: training and inference images/s and peak memory, per SS2D backend.

Two configurations at 256 px, bf16 autocast, random init (as the official VMamba numbers in
issue 5 were measured): the VMamba tiny 0220 backbone + LayerNorm/avgpool/linear head (the
like-for-like comparison with the official implementation), and the full SR model (CAM head,
FPM branch and foreground-control loss). Training uses SGD with Nesterov momentum.

Run: python benchmarks/model_gpu.py [--batch 64] [--backends torch,triton] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
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


def measure(kind: str, backend: str, batch: int, size: int, warmup: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build(kind, backend).cuda()
    num_classes = model.head.out_features if kind == "backbone+linear" else model.num_classes
    x = torch.randn(batch, 3, size, size, device="cuda")
    y = torch.randint(0, num_classes, (batch,), device="cuda")
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def train_step():
        with torch.autocast("cuda", torch.bfloat16):
            loss = model(x, y)["losses"]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer():
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
            model(x)

    model.eval()
    infer_ms = cuda_time(infer, repeats, warmup)
    model.train()
    torch.cuda.reset_peak_memory_stats()
    train_ms = cuda_time(train_step, repeats, warmup)
    peak = torch.cuda.max_memory_allocated() / 2**30
    params = sum(p.numel() for p in model.parameters()) / 1e6
    del model, opt
    torch.cuda.empty_cache()
    return {"kind": kind, "backend": backend, "params_m": params, "infer_img_s": batch / infer_ms * 1e3,
            "train_img_s": batch / train_ms * 1e3, "train_peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backends", default=",".join(b for b in ("torch", "triton") if b in available_backends()))
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
             "| model | SS2D backend | params | inference img/s | training img/s | training peak GiB |",
             "|---|---|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for kind in ("backbone+linear", "full SR"):
        for backend in args.backends.split(","):
            try:
                r = measure(kind, backend, args.batch, args.size, args.warmup, args.repeats)
                line = (f"| sr_vmamba_tiny {kind} | {backend} | {r['params_m']:.1f}M | {r['infer_img_s']:.0f} | "
                        f"{r['train_img_s']:.0f} | {r['train_peak_gib']:.1f} |")
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                line = f"| sr_vmamba_tiny {kind} | {backend} | - | OOM | OOM | - |"
            print(line, flush=True)
            lines.append(line)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
