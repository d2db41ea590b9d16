"""torchrun support shared by the trainer and the command-line tools.

Under torchrun (WORLD_SIZE > 1) each process takes `rank::world` of the work and rank 0
gathers the results; NCCL on GPUs, gloo on CPUs. Without torchrun everything is rank 0 of 1.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def local_device(prefer_cuda: bool = True) -> torch.device:
    """This process's device: its LOCAL_RANK GPU when there is one, else the CPU."""
    if prefer_cuda and torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def init(device: torch.device) -> None:
    """Join the torchrun process group (once) when there is more than one process."""
    if rank_and_world()[1] > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's `obj`, in rank order, on rank 0 (None elsewhere); [obj] when alone."""
    rank, world = rank_and_world()
    if world == 1 or not dist.is_initialized():
        return [obj]
    out = [None] * world if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
