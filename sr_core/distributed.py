"""torchrun support shared by the trainer and the command-line tools.

Under torchrun (WORLD_SIZE > 1) each process takes its shard of the work (whole batches, dealt
round robin) and rank 0 gathers the results back in input order; NCCL on GPUs, gloo on CPUs.
Without torchrun everything is rank 0 of 1.

Why whole batches: a model's float32 outputs for an image change in their last bits with the
batch size (and with the number of CPU threads), not with which images share its batch. An
image in the same batch as in one process, at the same thread count, gets the same bits; at
torchrun's default of one thread per process against several in one process, the outputs
agree to about 1e-7 only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def shard(n: int, batch: int = 1) -> list[int]:
    """This rank's indices of range(n): blocks of `batch` consecutive items dealt round robin,
    so that with the same batch size every item meets the batch it meets in one process."""
    rank, world = rank_and_world()
    batch = max(1, batch)
    return [i for start in range(rank * batch, n, world * batch) for i in range(start, min(start + batch, n))]


def gather_in_order(pairs: Sequence[tuple[int, Any]]) -> list[Any] | None:
    """Every rank's (index, item) pairs, merged by index on rank 0: the items in input order
    whatever the number of ranks; None on the other ranks."""
    parts = gather_to_main(list(pairs))
    if parts is None:
        return None
    return [item for _, item in sorted((pair for part in parts for pair in part), key=lambda pair: pair[0])]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
