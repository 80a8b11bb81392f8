"""The runtime, resolved once: the device checked, precision by device (bf16 from compute capability
8.0, fp16 with a gradient scaler below it, bf16 or fp32 on a CPU by its kernels); tested on this CPU
by faking what a GPU would report."""
import pytest
import torch

from lib.encoders import runtime
from lib.encoders.runtime import resolve_precision, resolve_runtime
from lib.finetune import checkpoints
from lib.probing.edge_probe import probe_precision


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("capability, expected", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"),
                                                  ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_a_gpu_gets_bf16_from_ampere_and_fp16_with_a_scaler_below(monkeypatch, capability, expected):
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: asked.append(device) or capability)
    assert resolve_precision("cuda:1") == expected and asked == ["cuda:1"]  # the device's own capability
    with monkeypatch.context() as gpu:  # a GPU is there while the runtime is resolved
        gpu.setattr(torch.cuda, "is_available", lambda: True)
        run = resolve_runtime("cuda")  # nothing touches a GPU until a tensor does
    assert run.device == "cuda" and run.device_type == "cuda"
    assert (run.precision, run.attention) == (expected, "sdpa")
    assert run.scales_loss == (expected == "fp16")
    assert run.autocast().fast_dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[expected]
    assert probe_precision(device="cuda") == ("bf16" if expected == "bf16" else "fp32")  # probes: no scaler, no fp16
    assert resolve_precision("cuda", "fp32") == "fp32"  # an explicit choice is kept


@pytest.mark.parametrize("native", [True, False])
def test_a_cpu_gets_bf16_only_with_native_kernels(monkeypatch, native):
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: native)
    assert resolve_precision("cpu") == ("bf16" if native else "fp32")
    assert probe_precision(device="cpu") == resolve_precision("cpu")
    run = resolve_runtime("cpu")
    assert run.precision == resolve_precision("cpu") and run.with_precision("auto") == run  # auto keeps its own
    assert not run.scales_loss and not run.grad_scaler().is_enabled()
    assert run.with_precision("fp16").grad_scaler().is_enabled()  # a real scaler on a CPU
    assert resolve_precision("mps") == "fp32"


def test_devices_are_checked_when_the_runtime_is_resolved():
    assert resolve_runtime("auto").device in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_runtime("tpu")
    assert resolve_runtime("cpu", data_dir="").data_dir is None  # an empty parameter is no folder


def test_unknown_precisions_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown precision 'fp8'; valid: auto, fp32, bf16, fp16"):
        resolve_precision("cpu", "fp8")
    with pytest.raises(ValueError, match="unknown probe precision 'fp16'; valid: auto, fp32, bf16"):
        probe_precision("fp16")


def test_fp32_autocast_is_a_no_op_and_fp16_computes_in_half():
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with runtime.autocast("cpu", "fp32"):
        assert layer(x).dtype == torch.float32
    with runtime.autocast("cpu", "fp16"):
        assert layer(x).dtype == torch.float16


def test_the_gradient_scaler_state_survives_a_checkpoint(tmp_path):
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    scaler.scale(model(torch.full((1, 4), float("inf"))).sum()).backward()  # an overflow halves the scale
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == 2.0 ** 9
    checkpoints.save_partial(tmp_path / "run", model, optimizer, scheduler, {"step": 1}, scaler)
    fresh = torch.amp.GradScaler("cpu")
    assert checkpoints.load_partial(tmp_path / "run", model, optimizer, scheduler, fresh) == {"step": 1}
    assert fresh.get_scale() == 2.0 ** 9
    off = torch.amp.GradScaler("cpu", enabled=False)  # fp32 and bf16 runs store none
    checkpoints.save_partial(tmp_path / "plain", model, optimizer, scheduler, {"step": 1}, off)
    assert "scaler" not in torch.load(tmp_path / "plain" / "trainer.pt", weights_only=True)
