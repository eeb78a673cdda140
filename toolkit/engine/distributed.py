"""Process groups for the tools: mmengine's launchers on GPUs, gloo on CPU-only hosts.

mmengine's ``init_dist`` always selects a CUDA device, so under ``torchrun`` on a machine
without one it fails; :func:`start_distributed` uses gloo there instead (CI runs the
multi-process paths that way).
"""

from __future__ import annotations

import os

import torch


def launch_env() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` as set by ``torchrun``; ``(0, 0, 1)`` outside it."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


def start_distributed(launcher: str, cpu_only: bool = False) -> None:
    """Initialise the default process group for ``launcher`` unless it is 'none' or done.

    ``cpu_only``: a gloo group even on GPUs, for processes that only synchronise (several
    may share a GPU, which NCCL refuses); only under torchrun (launcher 'pytorch').
    """
    import torch.distributed as dist
    from mmengine.dist import init_dist

    if launcher == "none" or (dist.is_available() and dist.is_initialized()):
        return
    if torch.cuda.is_available() and not cpu_only:
        init_dist(launcher)
    elif launcher == "pytorch":
        dist.init_process_group(backend="gloo")
    else:
        raise RuntimeError(f"launcher {launcher!r} needs CUDA GPUs on this host; "
                           f"use --launcher pytorch (torchrun) on CPU-only hosts")


def fit_local_rank_to_gpus() -> None:
    """With more torchrun processes than GPUs, map LOCAL_RANK onto the GPUs (round robin).

    mmengine's logger looks LOCAL_RANK up among the visible devices and fails past their
    number, so this must run before anything logs through mmengine.
    """
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is not None and torch.cuda.is_available():
        os.environ["LOCAL_RANK"] = str(int(local_rank) % torch.cuda.device_count())


def use_local_gpu(local_rank: int) -> None:
    """Make this process's default CUDA device its own GPU (round robin over the host's)."""
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
