"""Data parallelism that gives the same result on 1 process and on N (torchrun, gloo or NCCL).

Every rank builds the same model from the same seed, takes its share of each *global* batch,
and gradients are summed weighted by each rank's share before the (shared) clipping and step:
exactly the gradient of the global batch, so N processes match 1 process up to float rounding.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup() -> torch.device:
    """Join the process group when launched by torchrun; return this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a (small, CPU) tensor over ranks in place; NCCL only reduces GPU tensors, so it visits one."""
    if dist.is_initialized():
        if dist.get_backend() == "nccl" and not values.is_cuda:
            moved = values.cuda()
            dist.all_reduce(moved, op=dist.ReduceOp.SUM)
            values.copy_(moved.cpu())
        else:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Start every rank from rank 0's weights, whatever each process's init did."""
    if dist.is_initialized():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def reduce_gradients(params: list[torch.nn.Parameter], share: float) -> None:
    """Sum ``share * grad`` over ranks (``share`` = local batch / global batch), in one flat buffer.

    Parameters without a gradient (another size's scalers in multi-size pre-training) are left
    alone; every rank draws the same size, so they are the same on every rank.
    """
    if not dist.is_initialized():
        return
    params = [p for p in params if p.grad is not None]
    flat = torch.cat([p.grad.reshape(-1) for p in params]) * share
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
