"""Multi-process training with torchrun (DDP): process-group set-up and the few collectives used.

torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; without them a run is a single process and every
helper here is a no-op. GPUs use NCCL, CPUs gloo (which is how the test runs two processes).
Only rank 0 writes files; the others wait at barriers so no one reads half a checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from training.device import resolve_device


@dataclass(frozen=True, slots=True)
class World:
    """This process's place in the job."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device_setting: str) -> World:
    """Join the torchrun job described by the environment (or be a job of one)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_setting, local)
    if size <= 1:
        return World(0, 1, 0, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local, device)


def leave(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def sum_all(world: World, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all processes (float64, so sums are exact enough)."""
    if world.size <= 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return t.tolist()


def same_on_all(world: World, value: float) -> float:
    """Rank 0's value everywhere (so every process takes the same scheduler decision)."""
    if world.size <= 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=world.device)
    dist.broadcast(t, 0)
    return float(t.item())


def share_buffers(world: World, module: torch.nn.Module) -> None:
    """Give every process rank 0's BatchNorm statistics (each updated them on its own last batch)."""
    if world.size <= 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, 0)
