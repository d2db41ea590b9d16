"""Training throughput of sr-core-train's step on one GPU or many (torchrun), and the loader.

The model step is timed on GPU-resident random batches (so the loader is not the limit),
exactly as the trainer runs it (DDP when launched by torchrun, bf16 autocast, SGD Nesterov,
the full SR loss). With --data the training DataLoader of the same config is timed alone.

    python benchmarks/train_speed.py --model sr_vmamba_tiny --batch 64
    torchrun --standalone --nproc_per_node=2 benchmarks/train_speed.py --model sr_vmamba_tiny --batch 64
    python benchmarks/train_speed.py --loader-only --data NIH_LAYOUT --workers 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist


def time_training(args) -> None:
    from sr_core.models import create_model
    from sr_core.train.config import OptimSection
    from sr_core.train.optim import build_optimizer

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    if world > 1:
        dist.init_process_group("nccl")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(rank)
    device = torch.device("cuda", local)
    model = create_model(args.model, num_classes=8, ssm_backend=args.backend).to(device)
    opt = build_optimizer(model, OptimSection())
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local]) if world > 1 else model
    if args.compile:
        net = torch.compile(net)  # as the trainer does with train.compile=true
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 8, (args.batch,), device=device)

    def step():
        with torch.autocast("cuda", torch.bfloat16):
            loss = net(x, y)["losses"]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - start
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        if world > 1:
            dist.barrier()
        torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**30
    if rank == 0:
        total = args.batch * world / median
        mode = f"compile ({warmup_s:.0f} s to compile and warm up)" if args.compile else "eager"
        print(f"| {args.model} | {torch.cuda.get_device_name()} x {world} | {args.backend} | {mode} | {args.batch} | "
              f"{total:.0f} | {total / world:.0f} | {peak:.1f} |", flush=True)
    if world > 1:
        dist.destroy_process_group()


def time_loader(args) -> None:
    from sr_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from sr_core.train.config import load_config
    from sr_core.train.data import build_train_loader

    cfg = load_config("nih-nano", [f"data.workers={args.workers}", f"train.batch_size={args.batch}",
                                   f"data.input_size={args.size}"])
    loader, sampler, base = build_train_loader(cfg, args.data, IMAGENET_MEAN, IMAGENET_STD, 0, 1, True)
    n, start = 0, None
    for epoch in range(args.loader_epochs):
        sampler.set_epoch(epoch)
        for images, _ in loader:
            if start is None:
                start = time.perf_counter()  # the first batch pays the worker start-up
                continue
            n += images.shape[0]
    elapsed = time.perf_counter() - start
    print(f"| loader | {args.workers} workers | {args.size} px | {len(base)} images x {args.loader_epochs} epochs | "
          f"{n / elapsed:.0f} img/s |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sr_vmamba_tiny")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model, as train.compile=true does")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data", help="NIH-layout folder for the loader measurement")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--loader-epochs", type=int, default=3)
    parser.add_argument("--loader-only", action="store_true")
    args = parser.parse_args()
    if args.data:
        time_loader(args)
    if not args.loader_only:
        if int(os.environ.get("RANK", "0")) == 0:
            print("| model | GPUs | SS2D backend | mode | batch per GPU | img/s total | img/s per GPU | peak GiB |")
            print("|---|---|---|---|---:|---:|---:|---:|")
        time_training(args)


if __name__ == "__main__":
    main()
