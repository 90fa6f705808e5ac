"""DistributedDataParallel set-up for `torchrun --nproc_per_node=N script.py ...`."""
import os

import torch
import torch.distributed as dist

from .errors import UserError


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group when started by torchrun; returns (rank, world_size, device).

    Without torchrun this is a single process: rank 0 of 1, device unchanged.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, device
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(
                f"torchrun started {world_size} processes but this machine has {torch.cuda.device_count()} "
                "CUDA device(s); use --nproc_per_node equal to the GPU count, or --device cpu"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return rank, world_size, device


def finish_distributed() -> None:
    """After a finished run: wait for every process, then leave the process group.

    Without the wait a process that is done tears gloo down while rank 0 still saves its
    checkpoint, and that process can abort at exit ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    cleanup_distributed()


def cleanup_distributed() -> None:
    """Leave the process group (also after an error, when the other processes may be gone)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Add numbers up over all processes (the numbers themselves when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_mean(value: float, device: torch.device) -> float:
    """Average a number over all processes (the number itself when not distributed)."""
    world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return all_reduce_sum([value], device)[0] / world_size
