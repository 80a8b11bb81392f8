"""Ablations: the frozen prefix computed once trains the same model; restoring swaps the right layers."""
import copy
import os
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from lib.book.reports import ablation_report
from lib.encoders.loading import load_encoder
from lib.encoders.runtime import resolve_runtime
from lib.experiments.ablation import Ablation, ablation_items, check_grid, freezing_grid
from lib.experiments.prefix import PrefixStates
from lib.experiments.restoring import restoring
from lib.finetune.loop import build_model, prepare
from lib.finetune.metrics import evaluate
from lib.finetune.store import get_or_train


@pytest.fixture(scope="module")
def ablation(smoke):
    """The ablation stage of the ``smoke`` profile."""
    return Ablation(grid=smoke["ablation_grid"], n_train=smoke["ablation_n_train"],
                    batch_size=smoke["ablation_batch_size"], n_eval=smoke["ablation_n_eval"])


def test_stored_prefix_trains_the_same_model_as_recomputing_it(mirror, smoke_finetuning, ablation, cpu_runtime,
                                                               tmp_path, monkeypatch):
    """The grid's shortcut (frozen layers run once, their outputs stored) against a plain run, in fp32.

    The two runs batch the frozen layers differently (all examples at once against each training
    batch), so their sums round differently, and Adam's first steps, which divide by tiny second
    moments, magnify that: here (a CPU with AMX) the heads differ by up to 3e-4 in fp32 and 9e-3 under
    bf16, with identical losses in fp32. So: fp32, the losses to 1e-4, the weights to 1e-3."""
    finetuning, ablation = replace(smoke_finetuning, seeds=[1]), replace(ablation, grid=[2])
    runtime = cpu_runtime.with_precision("fp32")
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "fast"))
    (fast,) = freezing_grid(finetuning, ablation, "parsing", runtime, progress=False)
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "plain"))
    plain = get_or_train(ablation.config(finetuning, "parsing", 1, 2), runtime, progress=False)
    assert fast.config.precision == plain.config.precision == "fp32"
    assert fast.config.freeze_below == 2 and fast.history and plain.history
    assert [h["value"] for h in fast.history] == pytest.approx([h["value"] for h in plain.history], rel=1e-4)
    assert fast.metrics == pytest.approx(plain.metrics, abs=0.02)
    items = ablation_items(finetuning, ablation, "parsing", runtime, progress=False)
    assert set(items.k) == {2} and items.seed.tolist() == [1] * len(items) and items.item.tolist() == list(range(len(items)))
    assert items.correct.sum() / items.total.sum() == pytest.approx(fast.metrics["las"])
    weights = [m.load().state_dict() for m in (fast, plain)]
    assert all(torch.allclose(weights[0][name], weights[1][name], atol=1e-3) for name in weights[0])
    pre = load_encoder("minilm").model.state_dict()
    frozen = [n for n in pre if n.startswith(("embeddings.", "encoder.layer.0.", "encoder.layer.1."))]
    assert frozen and all(torch.equal(weights[0][f"encoder.{n}"], pre[n]) for n in frozen)
    top = [n for n in pre if n.startswith("encoder.layer.2.") and n.endswith("weight")]
    assert any(not torch.equal(weights[0][f"encoder.{n}"], pre[n]) for n in top)


def test_frozen_layers_have_no_dropout_while_training(smoke_finetuning, ablation):
    config = ablation.config(smoke_finetuning, "sentiment", 0, 3)
    model = build_model(config, 2, resolve_runtime("cpu"))
    model.train()
    assert not model.encoder.embeddings.training and not model.encoder.encoder.layer[2].training
    assert model.encoder.encoder.layer[3].training and model.head.training


def test_prefix_states_match_the_model_and_only_go_up(mirror, smoke_finetuning, ablation, minilm):
    config = ablation.config(smoke_finetuning, "nli", 0, 0)
    train, _, _ = prepare(config, minilm.tokenizer, str(mirror)).features
    states = PrefixStates(minilm.model, (train[:9],), minilm.tokenizer.pad_token_id).advance(4)
    ids = torch.tensor([train[5]["input_ids"]])
    with torch.no_grad():
        hidden = minilm.model(input_ids=ids, token_type_ids=torch.tensor([train[5]["token_type_ids"]]),
                              output_hidden_states=True).hidden_states[4][0]
    assert torch.allclose(states.states[0][5], hidden, atol=1e-5)
    with pytest.raises(ValueError, match="cannot go back to 2"):
        states.advance(2)


def test_evaluation_leaves_the_model_in_its_mode_and_stored_states_never_carry_dropout(mirror, smoke_finetuning,
                                                                                         ablation, minilm):
    """What restoring relies on: scoring a model does not switch its encoder to training mode, and a
    PrefixStates whose encoder was switched anyway still advances without dropout."""
    config = ablation.config(smoke_finetuning, "nli", 0, 0)
    model = build_model(config, 3, resolve_runtime("cpu")).eval()
    train, _, test = prepare(config, model.tokenizer, str(mirror)).features
    states = PrefixStates(model.encoder, (train[:9],), model.tokenizer.pad_token_id)
    evaluate(model, test[:16], "nli", model.tokenizer.pad_token_id)
    assert not model.training and not model.encoder.training  # 76c6f28 left it in training mode
    model.train()
    evaluate(model, test[:16], "nli", model.tokenizer.pad_token_id)
    assert model.training  # and a training loop goes on training
    states.advance(4)  # the encoder is in training mode now: the states must still be computed in eval mode
    ids = torch.tensor([train[5]["input_ids"]])
    with torch.no_grad():
        hidden = model.encoder.eval()(input_ids=ids, token_type_ids=torch.tensor([train[5]["token_type_ids"]]),
                                      output_hidden_states=True).hidden_states[4][0]
    assert torch.allclose(states.states[0][5], hidden, atol=1e-5)


def test_restoring_is_the_same_whatever_the_random_state(mirror, smoke_finetuning, ablation, cpu_runtime, tmp_path,
                                                         monkeypatch):
    """Restoring has no dropout in it: two cold runs under different random states agree, down to
    the hidden states it scores (which dropout would change even where a prediction does not flip)."""
    import importlib

    module = importlib.import_module("lib.experiments.restoring")

    seen: list[list[torch.Tensor]] = []

    class Recording(PrefixStates):
        def advance(self, layer):
            super().advance(layer)
            seen[-1].append(torch.cat(self.states[0]))
            # the same states computed afresh with the encoder in eval mode, in the same batches
            fresh = PrefixStates(self.encoder.eval(), self.splits, self.pad_id, self.device, self.precision)
            assert torch.equal(torch.cat(fresh.advance(layer).states[0]), seen[-1][-1]), f"layer {layer}"
            return self

    monkeypatch.setattr(module, "PrefixStates", Recording)
    tuned, tables = None, []
    for run, seed in enumerate((1, 2)):
        monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "models"))
        tuned = tuned or get_or_train(smoke_finetuning.config("nli", 0), cpu_runtime, progress=False)
        monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / f"restoring-{run}"))
        torch.manual_seed(seed)
        seen.append([])
        tables.append(restoring(tuned, "minilm", 64, cpu_runtime, progress=False))
    assert tables[0].equals(tables[1])
    assert len(seen[0]) == len(seen[1]) > 0 and all(torch.equal(a, b) for a, b in zip(*seen))


@pytest.mark.parametrize("grid, message", [([0, 7], r"\[7\] are outside 0..6"), ([], "grid is empty"),
                                           ([-1], "outside 0..6"), ([True], "outside 0..6")])
def test_bad_grids(grid, message):
    with pytest.raises(ValueError, match=message):
        check_grid(grid, "minilm")


def test_restoring_equals_swapping_the_weights(mirror, smoke_finetuning, ablation, cpu_runtime, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    finetuned = get_or_train(smoke_finetuning.config("sentiment", 0), cpu_runtime, progress=False)
    table = restoring(finetuned, "minilm", ablation.n_eval, cpu_runtime, progress=False)
    value = table.set_index(["experiment", "k", "metric"])["value"]
    tuned = finetuned.load()
    pre = load_encoder("minilm")
    data, (_, _, test) = prepare(ablation.config(smoke_finetuning, "sentiment", 0, 0), tuned.tokenizer, str(mirror))
    swapped = copy.deepcopy(tuned)  # pre-trained layers 3..6 (the top above k = 2), fine-tuned bottom and head
    for i in range(2, 6):
        swapped.encoder.encoder.layer[i].load_state_dict(pre.model.encoder.layer[i].state_dict())
    score = evaluate(swapped, test, "sentiment", tuned.tokenizer.pad_token_id, records=data.test)
    assert value["restore_top", 2, "accuracy"] == pytest.approx(score["accuracy"])
    swapped = copy.deepcopy(tuned)  # pre-trained embeddings and layers 1..4, fine-tuned layers 5..6
    swapped.encoder.embeddings.load_state_dict(pre.model.embeddings.state_dict())
    for i in range(4):
        swapped.encoder.encoder.layer[i].load_state_dict(pre.model.encoder.layer[i].state_dict())
    score = evaluate(swapped, test, "sentiment", tuned.tokenizer.pad_token_id, records=data.test)
    assert value["restore_bottom", 4, "accuracy"] == pytest.approx(score["accuracy"])
    full = evaluate(tuned, test, "sentiment", tuned.tokenizer.pad_token_id, records=data.test)["accuracy"]
    assert value["restore_bottom", 0, "accuracy"] == value["restore_top", 6, "accuracy"] == pytest.approx(full)
    assert value["restore_bottom", 6, "accuracy"] == value["restore_top", 0, "accuracy"]
    again = restoring(finetuned, "minilm", ablation.n_eval, cpu_runtime, progress=False)
    assert again.equals(table) and len(list(tmp_path.rglob("restoring/*.json"))) == 1  # from the cache


def test_ablate_command_and_its_errors(mirror, tmp_path, lib_command):
    result = lib_command(["ablate", "--profile", "smoke", "--task", "sentiment", "--no-progress"], tmp_path)
    assert result["task"] == "sentiment" and result["metric"] == "accuracy"
    assert [e["k"] for e in result["entries"]] == list(range(7))
    by_k = {e["k"]: e for e in result["entries"]}
    assert {"freezing", "restore_bottom", "restore_top"} <= set(by_k[0]) and {"freezing"} <= set(by_k[3])
    assert "freezing" not in by_k[1] and len(by_k[6]["freezing_seeds"]) == 2
    assert all(0 <= v <= 1 for e in result["entries"] for k, v in e.items() if k in ("freezing", "restore_top"))
    stored = sorted(p.parent.name for p in (tmp_path / "finetune").rglob("manifest.json"))
    assert len(stored) == 3 * 2 + 2  # grid 0, 3, 6 x 2 seeds, and the profile's two models
    again = lib_command(["ablate", "--profile", "smoke", "--task", "sentiment", "--no-progress"], tmp_path)
    assert again == result
    assert sorted(p.parent.name for p in (tmp_path / "finetune").rglob("manifest.json")) == stored

    bad = subprocess.run([sys.executable, "-m", "lib", "ablate", "--profile", "smoke", "--task", "sentiment",
                          "-p", "ablation_grid=[0, 9]"], capture_output=True, text=True,
                         env={**os.environ, "BOOK_CACHE_DIR": str(tmp_path / "bad")})
    assert bad.returncode == 2 and "[9] are outside 0..6" in bad.stderr
    assert not (tmp_path / "bad" / "finetune").exists()


def test_the_ablate_report_means_over_seeds():
    import pandas as pd
    table = pd.DataFrame([{"task": "nli", "seed": s, "experiment": e, "k": k, "metric": "accuracy", "value": v}
                          for s, e, k, v in [(0, "freezing", 0, 0.8), (1, "freezing", 0, 0.6),
                                             (0, "restore_top", 0, 0.3), (1, "restore_top", 0, 0.5)]])
    entry = ablation_report(table)["entries"][0]
    assert entry["freezing"] == pytest.approx(0.7) and entry["restore_top"] == pytest.approx(0.4)
    assert entry["freezing_seeds"] == [0.8, 0.6] and "restore_bottom" not in entry


def test_the_cpu_grid_shares_its_unfrozen_models_with_chapter_2():
    """On the cpu profile the grid's k = 0 config is chapter 2's (same store key: no retraining), and
    the grid's seeds are ``ablation_seeds``."""
    from lib.book.parameters import load_profile
    from lib.finetune.config import Finetuning

    cpu = load_profile("cpu")
    finetuning, ablation = Finetuning.from_parameters(cpu), Ablation.from_parameters(cpu)
    assert ablation.seeds == cpu["ablation_seeds"]
    for task in cpu["tasks"]:
        for seed in ablation.seeds:
            assert ablation.config(finetuning, task, seed, 0) == finetuning.config(task, seed)
    assert set(ablation.seeds) <= set(finetuning.seeds)


def test_grid_seeds_default_to_the_books_and_follow_ablation_seeds(smoke_finetuning, ablation, monkeypatch):
    from lib.experiments import ablation as module

    asked, runtime = [], resolve_runtime("cpu")
    monkeypatch.setattr(module, "stored", lambda config, runtime: asked.append(config) or SimpleNamespace())
    monkeypatch.setattr(module, "get_or_train", lambda config, runtime, **kwargs: SimpleNamespace(seed=config.seed))
    seeds = [m.seed for m in freezing_grid(smoke_finetuning, ablation, "nli", runtime, progress=False)]
    assert sorted(set(seeds)) == sorted(smoke_finetuning.seeds)
    seeds = [m.seed for m in freezing_grid(smoke_finetuning, replace(ablation, seeds=[1]), "nli", runtime,
                                           progress=False)]
    assert seeds == [1] * len(ablation.grid)


def test_the_ablation_tables_computed_in_a_fresh_process_are_the_ones_computed_here(
        mirror, smoke_finetuning, ablation, cpu_runtime, tmp_path, monkeypatch):
    """Chapter 5's call: each task's grid and restorings in a process of their own (the default on a
    CPU, one job per task for every seed) give the table computed in this process, value for value."""
    from lib.experiments.ablation import ablation_tables

    finetuning, ablation = replace(smoke_finetuning, seeds=[0, 1]), replace(ablation, grid=[0, 3], seeds=[0, 1])
    monkeypatch.delenv("BOOK_WORKERS", raising=False)
    monkeypatch.delenv("BOOK_ISOLATE", raising=False)
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "fresh"))
    fresh = ablation_tables(finetuning, ablation, ["sentiment"], cpu_runtime, progress=False)
    monkeypatch.setenv("BOOK_ISOLATE", "0")
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "here"))
    here = ablation_tables(finetuning, ablation, ["sentiment"], cpu_runtime, progress=False)
    assert len(fresh) and set(fresh.seed) == {0, 1} and set(fresh.experiment) >= {"freezing"}
    assert fresh.equals(here)
