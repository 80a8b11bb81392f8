"""Where and how a training run executes: device, precision, attention kernel, processes.

``precision="auto"`` (:func:`resolve_precision`) picks bf16 autocast where the device has fast bf16
kernels (a CUDA GPU of compute capability 8.0 or more; a CPU with AVX512-BF16 or AMX), fp16 autocast
with a gradient scaler on an older CUDA GPU (Colab's T4 is 7.5), and fp32 elsewhere. The attention
kernel is PyTorch's SDPA on a GPU and the eager one on a CPU, where we measured eager + bf16 faster
(bench/finetune.py). Training packs each batch into rows of a token budget
(:mod:`lib.finetune.packing`) on a GPU, where fixed-width rows keep the tensor cores busy, and pads
it on a CPU, where padding to the batch's longest member already wastes little; ``$BOOK_PACKING``
(``auto``, ``on``, ``off``) overrides the choice.
Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group: gloo on CPU, NCCL on GPU.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
from dataclasses import dataclass, replace
from typing import Iterator

import torch
import torch.distributed as dist

from lib.errors import InputError

# oneDNN compiles a kernel per input shape under bf16 autocast and keeps up to 1,024 of them; with
# dynamic padding nearly every batch has a new shape, and the cache held ~0.4 GB of a parsing run's
# 3.5 GB peak. 16 kernels cost no measurable time (bench: 80 s vs 81 s for the cpu parser, identical
# weights). A value the user set wins; it is read when oneDNN first needs it.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PACKING = ("auto", "on", "off")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(device: str, precision: str = "auto") -> str:
    """``fp32``, ``bf16`` or ``fp16`` for work on ``device``; ``auto`` decides by the hardware.

    A CUDA GPU of compute capability 8.0 or more (A100, H100, RTX 30xx) has bf16 tensor cores:
    bf16. An older one (V100, T4) has fp16 tensor cores only, and its bf16 is emulated: fp16,
    which training pairs with a gradient scaler. A CPU: bf16 where oneDNN has native kernels,
    else fp32. Anything else (MPS): fp32. An explicit precision is kept as given.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp16"
    return "bf16" if kind == "cpu" and cpu_has_bf16() else "fp32"


def autocast(device, precision: str):
    """Autocast to the resolved ``precision``'s dtype on ``device`` (a no-op for fp32)."""
    kind = str(device).split(":")[0]
    return torch.autocast(kind, dtype=DTYPES.get(precision, torch.bfloat16), enabled=precision in DTYPES)


@dataclass(frozen=True)
class Runtime:
    """Where and how the book's work runs, resolved once at the entry (a chapter's settings or a
    command): every stage takes it and none resolves a device of its own.

    ``device``: a resolved torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``), never ``auto``;
    ``precision``: ``fp32``, ``bf16`` or ``fp16`` for that device; ``attention``: the kernel
    (``eager`` or ``sdpa``); ``data_dir``: the local data mirror (None: ``$BOOK_DATA_DIR``, then the
    cache, then a download); ``rank`` and ``world``: this process and the number of processes
    (torchrun); ``packing``: whether training packs its batches (:mod:`lib.finetune.packing`).
    """

    device: str
    precision: str  # fp32 | bf16 | fp16 (resolved)
    attention: str  # eager | sdpa
    data_dir: str | None = None
    rank: int = 0
    world: int = 1
    packing: bool = False

    @property
    def device_type(self) -> str:
        """``cpu``, ``cuda`` or ``mps``: what a stored result depends on (not the GPU's index)."""
        return self.device.split(":")[0]

    def with_precision(self, precision: str) -> "Runtime":
        """This runtime with ``precision`` (``auto``: this runtime's own), resolved for its device."""
        return self if precision == "auto" else replace(self, precision=resolve_precision(self.device, precision))

    def autocast(self):
        return autocast(self.device, self.precision)

    @property
    def scales_loss(self) -> bool:
        """Whether training scales the loss: under fp16, whose narrow range underflows small gradients."""
        return self.precision == "fp16"

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler under fp16; a pass-through (``enabled=False``) for every other precision."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scales_loss)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around ``model`` in a multi-process run; the model itself otherwise."""
        if self.world == 1:
            return model
        ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


@contextlib.contextmanager
def deterministic_kernels(device: str) -> Iterator[None]:
    """On a CUDA device, ask torch for deterministic kernels while the block runs, then restore the
    process's setting (nothing changes on a CPU, whose kernels here are deterministic already).

    ``warn_only``: an op without a deterministic CUDA kernel warns instead of failing. On a GPU the
    book is therefore reproducible to rounding, not bit for bit: bf16 autocast and the fused SDPA
    attention kernels may sum in a different order from run to run.
    """
    if not device.startswith("cuda"):
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reads it when it starts
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def release_memory() -> None:
    """Hand the memory a finished run freed back to the operating system.

    glibc keeps the pages of freed tensors (and of the oneDNN kernels bf16 autocast compiled) in
    its arenas, so each training run in one process kept about 0.6 GB more than the last;
    ``malloc_trim`` returns them. A no-op where the C library has none (macOS, musl).
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is not None:
        trim(0)


def resolve_packing(device: str, packing: str | None = None) -> bool:
    """Whether training packs its batches on ``device``: ``auto`` packs on a CUDA GPU only;
    ``packing`` defaults to ``$BOOK_PACKING``, else ``auto``."""
    packing = os.environ.get("BOOK_PACKING", "auto") if packing is None else packing
    if packing not in PACKING:
        raise InputError(f"unknown packing {packing!r} (from BOOK_PACKING or the caller); valid: {', '.join(PACKING)}")
    return packing == "on" or (packing == "auto" and str(device).startswith("cuda"))


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked and returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but torch sees no CUDA device; use 'cpu' or 'auto'")
    if device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise InputError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N, mps")
    return device


def resolve_runtime(device: str = "auto", data_dir: str | None = None, distributed: bool = False,
                    packing: str | None = None) -> Runtime:
    """The one place where a device is resolved: ``device`` (``auto`` picks CUDA when there), its
    precision, attention kernel and packing, and the data folder (``""`` means none). With
    ``distributed`` under torchrun (``WORLD_SIZE`` > 1) it joins the process group and takes this
    process's GPU.

    >>> runtime = resolve_runtime("cpu", data_dir="")
    >>> runtime.device, runtime.attention, runtime.data_dir, runtime.world
    ('cpu', 'eager', None, 1)
    """
    device = pick_device(device)
    kind = device.split(":")[0]
    precision = resolve_precision(device, "auto")
    packs = resolve_packing(device, packing)
    world = int(os.environ.get("WORLD_SIZE", "1")) if distributed else 1
    rank = int(os.environ.get("RANK", "0")) if world > 1 else 0
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo")
        if kind == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
    return Runtime(device=device, precision=precision, attention="sdpa" if kind == "cuda" else "eager",
                   data_dir=data_dir or None, rank=rank, world=world, packing=packs)
