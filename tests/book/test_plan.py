"""``python -m lib plan``: a few timed steps here, each chapter's time projected from the profile."""
import json
import subprocess
import sys

import pytest

from lib.book import plan as planning
from lib.book.plan import CHAPTERS, plan


@pytest.fixture(scope="module")
def smoke():
    return plan("smoke", device="cpu", steps=1)


def test_every_chapter_gets_a_time_from_measured_unit_costs(smoke):
    assert list(smoke["chapters"]) == list(CHAPTERS)
    assert all(seconds >= planning.CHAPTER_OVERHEAD_S for seconds in smoke["chapters"].values())
    assert smoke["total_s"] == pytest.approx(sum(smoke["chapters"].values()), abs=0.5)
    assert smoke["timing_model"] == "random-init:minilm" and smoke["layers"] == 6 and smoke["device"] == "cpu"
    units = smoke["units"]
    assert set(units["train_step_s"]) == {"nli", "sentiment", "parsing"}
    assert all(v > 0 for v in units["train_step_s"].values()) and units["extract_sentence_s"] > 0
    assert units["probe_target_epoch_s"] > 0 and units["structural_sentence_epoch_s"] > 0


def test_the_projection_follows_the_profile(smoke, monkeypatch):
    """Same unit costs, more work: twice the optimizer steps cost about twice the fine-tuning."""
    fixed = {key: value for key, value in smoke["units"].items()}
    monkeypatch.setattr(planning.Bench, "train_step", lambda self, b, n: fixed["train_step_s"]["nli"])
    monkeypatch.setattr(planning.Bench, "forward", lambda self, b, n, hidden_states=False: 1e-3)
    monkeypatch.setattr(planning.Bench, "probe_epoch", lambda self: 1e-5)
    monkeypatch.setattr(planning.Bench, "structural_epoch", lambda self, rank=64: 1e-4)
    monkeypatch.setattr(planning.Bench, "comparison", lambda self, n: 1e-2)
    one = plan("smoke", device="cpu", steps=1, overrides={"train_steps": 40})
    two = plan("smoke", device="cpu", steps=1, overrides={"train_steps": 80})
    work = {name: seconds - planning.CHAPTER_OVERHEAD_S for name, seconds in one["chapters"].items()}
    double = {name: seconds - planning.CHAPTER_OVERHEAD_S for name, seconds in two["chapters"].items()}
    assert double["02_finetuning"] == pytest.approx(2 * work["02_finetuning"], rel=0.1)
    assert double["03_probing"] == pytest.approx(work["03_probing"], abs=0.1)  # probes do not read train_steps


def test_bad_input_is_refused_before_any_timing(monkeypatch):
    monkeypatch.setattr(planning, "Bench", lambda *a, **k: pytest.fail("nothing may be timed"))
    with pytest.raises(ValueError, match="unknown profile 'tpu'"):
        plan("tpu")
    with pytest.raises(ValueError, match="unknown parameter 'n_trian'"):
        plan("smoke", overrides={"n_trian": 3})
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        plan("smoke", steps=0)
    with pytest.raises(ValueError, match="unknown model"):
        plan("smoke", device="cpu", overrides={"model": "no-such-model"})


def test_the_command_prints_a_table_then_json():
    done = subprocess.run([sys.executable, "-m", "lib", "plan", "--profile", "smoke", "--device", "cpu", "--steps", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["profile"] == "smoke" and list(result["chapters"]) == list(CHAPTERS)
    assert lines[0].startswith("Projected on cpu") and any(line.strip().startswith("total") for line in lines)
