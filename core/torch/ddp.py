"""One replicate spread over several processes: torch DistributedDataParallel (DDP).

A task written with :func:`ddp_context` runs unchanged on one process (the context is
then a no-op) and on N processes started by ``torchrun``, by ``srun`` (``uqhpo slurm
--layout ddp``) or by ``uqhpo worker --ddp-processes N``::

    from uqhpo.torch.ddp import ddp_context

    def run(self, config, ctx):
        with ddp_context(ctx.device) as ddp:
            torch.manual_seed(ctx.seed)                     # same start on every rank
            model = ddp.wrap(build(config))                 # DDP: gradients averaged over ranks
            loader = ddp.loader(train_set, batch_size=config["batch"] // ddp.world_size,
                                seed=ctx.seed)              # each rank a disjoint shard
            for epoch in range(epochs):
                loader.sampler.set_epoch(epoch)
                ...
            return ddp.mean(validation_loss(model))         # the same number on every rank

Every rank returns; only rank 0's result is recorded (the launcher drops the others),
and only ``ddp.is_main`` should write files (checkpoints). The rank and world size come
from the environment: ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (torchrun, uqhpo's local
launcher) or ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` (srun), the rendezvous
from ``MASTER_ADDR``/``MASTER_PORT`` (see :func:`uqhpo.slurm_steps.rendezvous`). The
back-end is gloo on CPU and nccl on CUDA.
"""
from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import torch
import torch.distributed as dist

from ..slurm_steps import rendezvous


@dataclass
class DDPRun:
    """What a task needs inside :func:`ddp_context`.

    Attributes:
        rank: this process's rank, 0..world_size-1.
        world_size: processes training this replicate together (1: plain training).
        local_rank: rank on this node (picks the GPU).
        device: where the model and batches go (``cuda:<local GPU>`` or ``cpu``).
        backend: "gloo", "nccl", or None when ``world_size == 1``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: Any = None
    backend: Optional[str] = None

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank whose result is recorded and that writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module, **ddp_options: Any) -> torch.nn.Module:
        """``model`` moved to :attr:`device`, wrapped in DistributedDataParallel when
        ``world_size > 1`` (which broadcasts rank 0's weights, then averages gradients)."""
        model = model.to(self.device)
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, **ddp_options)

    def sampler(self, dataset: Any, shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> Any:
        """A ``DistributedSampler``: rank r gets every world_size-th index of one
        permutation (seeded by ``seed``, the same on all ranks); one shard when alone."""
        from torch.utils.data import DistributedSampler  # noqa: PLC0415

        return DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank, shuffle=shuffle,
                                  seed=int(seed) % 2 ** 63, drop_last=drop_last)

    def loader(self, dataset: Any, batch_size: int, shuffle: bool = True, seed: int = 0,
               drop_last: bool = False, **loader_options: Any) -> Any:
        """A ``DataLoader`` over this rank's shard; ``batch_size`` is per process (the
        global batch is ``batch_size * world_size``). Call ``loader.sampler.set_epoch(e)``
        each epoch for a new permutation."""
        from torch.utils.data import DataLoader  # noqa: PLC0415

        return DataLoader(dataset, batch_size=batch_size, sampler=self.sampler(dataset, shuffle, seed, drop_last),
                          drop_last=drop_last, **loader_options)

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks (the same float on every rank)."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64,
                         device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        """Wait until every rank gets here (no-op alone)."""
        if self.distributed:
            dist.barrier()


def _device(device: str, local_rank: int) -> torch.device:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return torch.device("cuda", local_rank % n if n > 1 else 0)
    return torch.device("cpu")


@contextmanager
def ddp_context(device: str = "cpu", backend: Optional[str] = None, timeout_s: float = 600.0,
                environ: Optional[dict] = None) -> Iterator[DDPRun]:
    """Join this replicate's process group for the block; leave it afterwards.

    Args:
        device: the task's device (``ctx.device``): "cuda" uses the GPU of
            ``local_rank`` and nccl, "cpu" uses gloo.
        backend: force a back-end ("gloo" also works on CUDA tensors).
        timeout_s: how long a collective waits for the other ranks before failing.
        environ: the environment to read (default ``os.environ``).

    Yields:
        A :class:`DDPRun`; with one process (no launcher variables) nothing is initialized.

    Raises:
        ValueError: the rank variables are inconsistent (one line naming them).
    """
    env = dict(os.environ if environ is None else environ)
    rank, world, local, addr, port = rendezvous(env)
    dev = _device(device, local)
    if world == 1:
        yield DDPRun(device=dev)
        return
    if dist.is_initialized():
        raise ValueError("ddp_context: a process group is already initialized in this process (nested ddp_context?)")
    chosen = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(chosen, init_method=f"tcp://{addr}:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield DDPRun(rank=rank, world_size=world, local_rank=local, device=dev, backend=chosen)
    except BaseException:
        dist.destroy_process_group()   # no barrier: the other ranks may never reach it
        raise
    # every rank done before any leaves: rank 0 hosts the rendezvous store, and a gloo rank
    # whose peer tore the group down under it aborts the process (SIGABRT, seen in CI)
    dist.barrier()
    dist.destroy_process_group()
