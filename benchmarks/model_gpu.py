"""Whole-model GPU speed: training and inference images/s and peak memory, per SS2D backend;
and the viewer's case, one study from file to heatmap.

Two configurations at 256 px, bf16 autocast, random init (as the official VMamba numbers in
issue 5 were measured): the VMamba tiny 0220 backbone + LayerNorm/avgpool/linear head (the
like-for-like comparison with the official implementation), and the full SR model (CAM head,
FPM branch and foreground-control loss). Training uses SGD with Nesterov momentum.

The viewer's case (`--cases viewer`): what the viewer does when a study is opened with a warm
model on the GPU: read the file (a 1024 px demo film by default, sr_core.io.read_image),
Predictor.predict (preprocess, the model under bf16 autocast, maps back to the CPU) and the
top finding's map at image size (Prediction.fpm), wall time, median and p95 of --viewer-repeats
after warm-up, with the three parts' medians. The model is sr_vmamba_tiny with random weights
at 256 px (speed does not depend on training) unless --weights names a weights file, which
then runs as shipped (its input size, its test-time flip). Two rows a backend: the Predictor's
eager forward, and its forward replayed as a CUDA graph (`cuda_graphs=True`, what the viewer
uses), with the largest difference of the top map between the two.

Run: python benchmarks/model_gpu.py [--batch 64] [--backends torch,triton] [--modes eager,compile,graphs] [--out FILE.md]
         [--inference-only]   (inference img/s only: half the compiling)
         [--profile]   (after each row: one inference and one training step under torch.profiler,
                        GPU time by kind of kernel, the longest kernels, the operators behind them)
     python benchmarks/model_gpu.py --cases viewer --backend triton_plane [--weights FILE] [--image FILE]
     python benchmarks/model_gpu.py --backends triton,triton_plane --plane-variant col_mode=transpose

--backend NAME runs every case on that one SS2D backend (in place of --backends).

Modes (each on top of a backend): eager; compile = torch.compile(model) for both steps;
graphs = the eager inference forward captured once in a CUDA graph and replayed (fixed shape;
training stays eager); compile+graphs = torch.compile(mode="reduce-overhead") for inference
and torch.compile for training; reduce-overhead = torch.compile(mode="reduce-overhead") for
both steps (CUDA graphs of the forward and of the backward, the optimizer step eager: on an
H200 in session 14 a compiled training step ran 40.9 ms of kernels in 47.6 ms, so the host's
launches, not the GPU, set 6.7 ms of it); max-autotune = torch.compile(mode="max-autotune") for both
steps (reduce-overhead's CUDA graphs, and every GEMM and conv benchmarked against Inductor's
Triton templates, whose timings it logs: on an H200 in session 16 the inference compile alone
took over 400 s, 19-39 s a shape). Every non-eager mode reports its largest logit difference
from eager on the same input, so a faster mode that changes results shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cuda_time, print_profile, register_plane_variants, time_call  # noqa: E402

from sr_core.kernels import available_backends  # noqa: E402
from sr_core.models import create_model  # noqa: E402
from sr_core.models.vmamba import SS2D  # noqa: E402


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


def profile_step(title: str, fn) -> None:
    """One call of fn under torch.profiler, after its timed ones (so nothing compiles in it):
    where its GPU time goes, by kind of kernel and by kernel (`print_profile`)."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        fn()
        torch.cuda.synchronize()
    # The operators too: which one launches a copy (session 14's compiled training step still
    # ran 25 strided copies, 1.3 ms, whose source the kernel names do not say).
    print_profile(prof, title, top=25, ops=20)


def measure(kind: str, backend: str, batch: int, size: int, warmup: int, repeats: int, mode: str = "eager",
            profile: bool = False, training: bool = True) -> dict:
    torch.manual_seed(0)
    model = build(kind, backend).cuda()
    num_classes = model.head.out_features if kind == "backbone+linear" else model.num_classes
    x = torch.randn(batch, 3, size, size, device="cuda")
    y = torch.randint(0, num_classes, (batch,), device="cuda")
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if mode in ("reduce-overhead", "max-autotune"):
        train_fn = torch.compile(model, mode=mode)
    else:
        train_fn = torch.compile(model) if mode in ("compile", "compile+graphs") else model
    # CUDA-graph trees reuse their output memory from one replay to the next: each step says
    # where it begins, so that a replay never overwrites what the previous step still reads.
    graphed = mode in ("reduce-overhead", "max-autotune")
    step_begin = torch.compiler.cudagraph_mark_step_begin if graphed else lambda: None
    model.eval()
    reference = _logits(model, x)
    start = time.perf_counter()
    if mode == "graphs":
        replay, out = _graphed(model, x)
        infer, check = replay, lambda: (replay(), out.float().clone())[1]
    else:
        infer_fn = {"eager": model, "compile": train_fn, "reduce-overhead": train_fn, "max-autotune": train_fn,
                    "compile+graphs": torch.compile(model, mode="reduce-overhead")}[mode]

        def infer():
            step_begin()
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
                infer_fn(x)

        check = lambda: (step_begin(), _logits(infer_fn, x))[1]  # noqa: E731
    diff = float((check() - reference).abs().max())
    setup_s = time.perf_counter() - start

    def train_step():
        step_begin()
        with torch.autocast("cuda", torch.bfloat16):
            loss = train_fn(x, y)["losses"]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    infer_ms = cuda_time(infer, repeats, warmup)
    title = f"sr_vmamba_tiny {kind}, {backend}, {mode}"
    if profile:  # before model.train(): in training mode a compiled model would compile again
        profile_step(f"{title}, inference", infer)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    result = {"kind": kind, "backend": backend, "mode": mode, "params_m": params, "infer_img_s": batch / infer_ms * 1e3,
              "train_img_s": float("nan"), "train_peak_gib": float("nan"), "max_logit_diff": diff, "setup_s": setup_s}
    if not training:
        return result
    model.train()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    train_step()  # compiles the training graph in the compile modes
    setup_s += time.perf_counter() - start
    train_ms = cuda_time(train_step, repeats, warmup)
    peak = torch.cuda.max_memory_allocated() / 2**30
    if profile:
        profile_step(f"{title}, training step", train_step)
    del model, opt, train_fn
    torch.cuda.empty_cache()
    return dict(result, train_img_s=batch / train_ms * 1e3, train_peak_gib=peak, setup_s=setup_s)


def use_scan_backend(model: nn.Module, backend: str) -> None:
    """Run every SS2D block of `model` on `backend` (a weights file names its own, usually "auto")."""
    for module in model.modules():
        if isinstance(module, SS2D):
            module.backend = backend


def viewer_predictor(backend: str, weights: str | None, device: str = "cuda", cuda_graphs: bool = False):
    """A Predictor: the weights file as shipped, or random sr_vmamba_tiny at 256 px."""
    from sr_core.predict import Predictor

    if weights:
        predictor = Predictor.from_weights(weights, device=device, cuda_graphs=cuda_graphs)
    else:
        torch.manual_seed(0)
        model = create_model("sr_vmamba_tiny", num_classes=8)
        predictor = Predictor(model, {"class_names": [f"c{i}" for i in range(8)], "input_size": 256}, device=device,
                              cuda_graphs=cuda_graphs)
    use_scan_backend(predictor.model, backend)
    return predictor


def viewer_case(backend: str, image_path: Path, weights: str | None, repeats: int, warmup: int,
                device: str = "cuda", cuda_graphs: bool = False) -> dict:
    """File to heatmap, warm: read, predict, the top finding's map at image size (wall ms), and
    that map (the last one made)."""
    from sr_core.io import read_image

    predictor = viewer_predictor(backend, weights, device, cuda_graphs)
    parts: dict[str, list[float]] = {"read": [], "predict": [], "fpm": []}

    def open_study():
        t0 = time.perf_counter()
        image = read_image(image_path)
        t1 = time.perf_counter()
        pred = predictor.predict(image)  # its maps come back to the CPU: the GPU work is done
        t2 = time.perf_counter()
        heatmap = pred.fpm(pred.top_finding)
        t3 = time.perf_counter()
        for name, ms in zip(parts, ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)):
            parts[name].append(ms)
        return image, heatmap

    image, heatmap = open_study()
    assert heatmap.shape == (image.height, image.width), heatmap.shape
    total = time_call(open_study, repeats=repeats, warmup=warmup)
    heatmap = open_study()[1]
    timed = {name: sorted(v[-repeats:])[repeats // 2] for name, v in parts.items()}
    model_name = Path(weights).name if weights else "sr_vmamba_tiny (random, 256 px)"
    del predictor
    torch.cuda.empty_cache()
    return {"backend": backend, "model": model_name, "image": f"{image_path.name} {image.width}x{image.height}",
            "heatmap": heatmap, **total, **{f"{k}_ms": v for k, v in timed.items()}}


def viewer_table(backends: list[str], image_path: Path, weights: str | None, repeats: int, warmup: int) -> list[str]:
    lines = ["", f"Viewer case: file to heatmap on the GPU, warm, wall-clock median and p95 of {repeats} "
             f"after {warmup} warm-up", "",
             "| model | image | SS2D backend | forward | median ms | p95 ms | read ms | predict ms | fpm ms "
             "| max map diff vs eager |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for backend in backends:
        eager_map = None
        for graphs in (False, True):
            mode = "CUDA graph" if graphs else "eager"
            try:
                r = viewer_case(backend, image_path, weights, repeats, warmup, cuda_graphs=graphs)
                if not graphs:
                    eager_map = r["heatmap"]
                diff = "-" if eager_map is None else f"{float(np.abs(r['heatmap'] - eager_map).max()):.2e}"
                line = (f"| {r['model']} | {r['image']} | {backend} | {mode} | {r['median_ms']:.1f} | "
                        f"{r['p95_ms']:.1f} | {r['read_ms']:.1f} | {r['predict_ms']:.1f} | {r['fpm_ms']:.1f} | "
                        f"{diff} |")
            except Exception as exc:  # a backend that fails is a row, not a crash
                torch.cuda.empty_cache()
                line = (f"| - | {image_path.name} | {backend} | {mode} | failed: {' '.join(str(exc).split())[:120]} "
                        "| - | - | - | - | - |")
            print(line, flush=True)
            lines.append(line)
    return lines


def default_image() -> Path | None:
    """The first 1024 px demo film, if the resources are present."""
    from sr_core.bundled import demo_study

    demo = demo_study()
    films = sorted(demo.glob("*.png")) if demo is not None else []
    return films[0] if films else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backends", default=",".join(b for b in ("torch", "triton") if b in available_backends()))
    parser.add_argument("--modes", default="eager",
                        help="comma-separated: eager, compile, graphs, compile+graphs, reduce-overhead, max-autotune")
    parser.add_argument("--kinds", default="backbone+linear,full SR")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", help="also append the table to this markdown file")
    parser.add_argument("--backend", help="one SS2D backend for every case (in place of --backends)")
    parser.add_argument("--cases", default="models,viewer", help="comma-separated: models (the img/s table), viewer")
    parser.add_argument("--weights", help="viewer case: a weights file (default: random sr_vmamba_tiny at 256 px)")
    parser.add_argument("--image", help="viewer case: the study to open (default: the first 1024 px demo film)")
    parser.add_argument("--viewer-repeats", type=int, default=50)
    parser.add_argument("--viewer-warmup", type=int, default=5)
    parser.add_argument("--inference-only", action="store_true",
                        help="time inference only (training img/s and peak memory show as nan; compiles half as much)")
    parser.add_argument("--profile", action="store_true",
                        help="after each row's timings, one inference and one training step under torch.profiler: "
                             "GPU time by kind of kernel, the longest kernels and the operators behind them")
    parser.add_argument("--plane-variant", action="append", default=[], metavar="KEY=VALUE[,...]",
                        help="one more SS2D path to run: the plane kernels with these options (repeatable), "
                             "e.g. col_mode=transpose; named triton_plane[KEY=VALUE,...] in the tables")
    args = parser.parse_args()
    backends = [args.backend] if args.backend else args.backends.split(",")
    try:
        backends += register_plane_variants(args.plane_variant)
    except ValueError as exc:
        parser.error(f"--plane-variant: {exc}")
    unknown = set(backends) - set(available_backends()) - {"auto"}
    if unknown:
        parser.error(f"unknown SS2D backend(s) {sorted(unknown)}; available: auto, {', '.join(available_backends())}")
    cases = set(args.cases.split(","))
    if cases - {"models", "viewer"}:
        parser.error(f"--cases: unknown {sorted(cases - {'models', 'viewer'})}; known: models, viewer")
    image_path = Path(args.image) if args.image else default_image()
    if "viewer" in cases and (image_path is None or not image_path.is_file()):
        parser.error(f"--image: no study to open ({image_path or 'no demo films in resources/demo'})")
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
    if "models" in cases:
        print("\n".join(lines), flush=True)
    for kind in args.kinds.split(",") if "models" in cases else []:
        for backend in backends:
            for mode in args.modes.split(","):
                name = f"| sr_vmamba_tiny {kind} | {backend} | {mode} |"
                try:
                    r = measure(kind, backend, args.batch, args.size, args.warmup, args.repeats, mode, args.profile,
                                not args.inference_only)
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
    if "models" not in cases:
        lines = []
    if "viewer" in cases:
        lines += viewer_table(backends, image_path, args.weights, args.viewer_repeats, args.viewer_warmup)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
