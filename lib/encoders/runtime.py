"""Where and how a training run executes: device, precision, attention kernel, processes.

``precision="auto"`` picks bf16 autocast where the device has fast bf16 kernels (a CUDA GPU with
bf16; a CPU with AVX512-BF16 or AMX) and fp32 elsewhere. The attention kernel is PyTorch's SDPA on
a GPU and the eager one on a CPU, where we measured eager + bf16 faster (bench/finetune.py).
Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group: gloo on CPU, NCCL on GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Runtime:
    device: str
    precision: str  # fp32 | bf16 (resolved)
    attention: str  # eager | sdpa
    rank: int = 0
    world: int = 1

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    def autocast(self):
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.bf16)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around ``model`` in a multi-process run; the model itself otherwise."""
        if self.world == 1:
            return model
        ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def start_runtime(device: str, precision: str = "auto", distributed: bool = True) -> Runtime:
    """Resolve precision and attention for ``device``; join the process group under torchrun."""
    kind = device.split(":")[0]
    if precision == "auto":
        fast = torch.cuda.is_bf16_supported() if kind == "cuda" else kind == "cpu" and cpu_has_bf16()
        precision = "bf16" if fast else "fp32"
    world = int(os.environ.get("WORLD_SIZE", "1")) if distributed else 1
    rank = int(os.environ.get("RANK", "0")) if world > 1 else 0
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo")
        if kind == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
    return Runtime(device=device, precision=precision, attention="sdpa" if kind == "cuda" else "eager",
                   rank=rank, world=world)
