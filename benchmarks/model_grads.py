"""How far one training step's gradients on an SS2D backend are from the PyTorch scan's (one GPU).

What `tests/sr_core/kernels/test_triton_plane.py::test_model_on_auto_trains_as_on_the_reference_cuda`
checks against a bound (1%), printed as numbers: sr_vmamba_nano with the SR head at 256 px,
fp32, one forward and backward on the same weights and batch, once on "torch" and twice on
the backend (default "auto"). Per parameter: max |difference| / max |reference gradient|; the
worst few, and the worst difference between the backend's two runs (0 for a deterministic
backend; atomics in a different order or a race show here).

Run: python benchmarks/model_grads.py [--backend auto] [--model sr_vmamba_nano] [--top 4]
     python benchmarks/model_grads.py --plane-variant channels_last_io=1   (also the plane kernels
     with these options: one more backend, repeatable)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import register_plane_variants  # noqa: E402

from sr_core.models import create_model  # noqa: E402


def step_grads(model_name: str, backend: str, images: torch.Tensor, labels: torch.Tensor) -> dict:
    torch.manual_seed(1)  # the same weights for every backend
    model = create_model(model_name, ssm_backend=backend, drop_path_rate=0.0).cuda().train()
    out = model(images, labels)
    out["losses"]["total"].backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def worst(a: dict, b: dict, scale: dict, top: int) -> list[tuple[float, str]]:
    rel = [(float((a[n] - b[n]).abs().max() / scale[n].abs().max().clamp_min(1e-6)), n) for n in scale]
    return sorted(rel, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--model", default="sr_vmamba_nano")
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--plane-variant", action="append", default=[], metavar="KEY=VALUE[,...]",
                        help="one more backend: the plane kernels with these options (repeatable)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("model_grads.py: needs a CUDA device")
    try:
        backends = [args.backend, *register_plane_variants(args.plane_variant)]
    except ValueError as exc:
        parser.error(f"--plane-variant: {exc}")
    torch.manual_seed(0)
    images = torch.randn(4, 3, 256, 256, device="cuda")
    labels = torch.tensor([0, 3, -1, 5], device="cuda")
    ref = step_grads(args.model, "torch", images, labels)
    print(f"GPU: {torch.cuda.get_device_name()}; {args.model}, fp32, against the 'torch' backend")
    for backend in backends:
        runs = [step_grads(args.model, backend, images, labels) for _ in range(2)]
        for i, run in enumerate(runs, 1):
            print(f"{backend} run {i}: " + ", ".join(f"{n} {v:.4f}" for v, n in worst(run, ref, ref, args.top)))
        print(f"{backend} run 1 against run 2: "
              + ", ".join(f"{n} {v:.1e}" for v, n in worst(runs[0], runs[1], ref, args.top)))


if __name__ == "__main__":
    main()
