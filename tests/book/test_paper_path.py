"""The ``paper`` profile's code path, end to end, without a hub or a GPU: every chapter runs through
papermill on ``--profile paper`` with its sizes shrunk, a tiny random-init BERT (2 layers x 32, a
local folder: BERT's [CLS] pooling) and local exports of MNLI and SQuAD in the hub's row format in
a copy of the data mirror (``mnli/<split>.jsonl``, ``squad/<split>.jsonl``: what
``Dataset.to_json`` writes). The exports are built from the mirror's real text: SNLI pairs with their
gold labels as MNLI rows, Wikipedia paragraphs with an answer span each as SQuAD rows."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lib.book.build import ROOT, chapters

MNLI_GENRES = ("fiction", "government", "slate", "telephone", "travel")
LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}
# The paper profile with every size shrunk to seconds; the rest (tasks nli/qa/parsing, nli_dataset
# mnli, seeds, probe tasks, the similarity and shift settings' kinds) is the profile's own.
SHRUNK = {"model": "{tiny}", "control_model": "random-init:{tiny}", "device": "cpu", "batch_size": 16,
          "n_sentences": 40, "n_pairs": 500, "seeds": [0, 1],
          "n_train": {"nli": 32, "sentiment": 0, "parsing": 32, "qa": 32}, "n_dev": 16, "n_test": 24,
          "train_steps": 2, "train_batch_size": 16,
          "max_length": {"nli": 64, "sentiment": 64, "parsing": 64, "qa": 128},
          "probe_train_sentences": 40, "probe_test_sentences": 40, "probe_epochs": 1, "structural_epochs": 1,
          "probe_rank": 8, "similarity_tokens": 150, "ablation_grid": [0, 1, 2], "ablation_seeds": [0, 1],
          "ablation_n_train": {"nli": 32, "sentiment": 0, "parsing": 32, "qa": 32}, "ablation_n_eval": 24,
          "shift_domains": {"nli": ["snli", "ewt-email", "wikipedia"], "sentiment": ["movies", "tweets"],
                            "parsing": ["ewt-email", "gum-news", "wikipedia"], "qa": ["wikipedia", "ewt-email"]},
          "shift_sentences": 20, "shift_tokens": 80, "shift_eval": 24}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def mnli_rows(pairs) -> list[dict]:
    """SNLI pairs as hub MNLI rows (one without consensus, label -1, as the hub has them)."""
    rows = [{"premise": p.text, "hypothesis": p.pair, "label": LABELS[p.label], "pairID": f"{p.id}",
             "genre": MNLI_GENRES[i % len(MNLI_GENRES)]} for i, p in enumerate(pairs)]
    return rows + [dict(rows[0], label=-1, pairID="no-consensus")]


def squad_rows(paragraphs) -> list[dict]:
    """Wikipedia paragraphs as hub SQuAD rows: the answer is the paragraph's first capitalised word
    after its first one, at its character offset; the question asks for it."""
    rows = []
    for p in paragraphs:
        match = re.search(r"(?<=\s)[A-Z][a-z]{2,}", p.text[:300])
        if match:
            rows.append({"id": f"q{len(rows)}", "title": p.domain, "context": p.text[:600],
                         "question": f"Which name follows {p.text[:match.start()].split()[-1]!r}?",
                         "answers": {"text": [match.group()], "answer_start": [match.start()]}})
    return rows


def paper_mirror(mirror: Path, folder: Path, n: int = 80) -> Path:
    """A copy of the mirror (links) with local MNLI and SQuAD exports built from its real text."""
    import lib

    for entry in mirror.iterdir():
        (folder / entry.name).symlink_to(entry)
    snli = lib.load_snli("test", str(mirror))
    wiki = [p for p in lib.load_wikipedia(str(mirror)) if len(p.text) > 200]
    _jsonl(folder / "mnli" / "train.jsonl", mnli_rows(snli[:n]))
    _jsonl(folder / "mnli" / "validation_matched.jsonl", mnli_rows(snli[n:2 * n]))
    _jsonl(folder / "squad" / "train.jsonl", squad_rows(wiki[:n]))
    _jsonl(folder / "squad" / "validation.jsonl", squad_rows(wiki[n:2 * n]))
    return folder


def tiny_bert(folder: Path) -> Path:
    """A random-init BERT, 2 layers x 32, 512 positions, saved with MiniLM's (BERT's uncased) tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from lib.encoders.loading import minilm_path

    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def run_chapter(notebook: Path, tiny: Path, data: Path, cache: Path, out: Path) -> subprocess.CompletedProcess:
    import papermill

    declared, args = papermill.inspect_notebook(str(notebook)), []
    for name, value in SHRUNK.items():
        if name not in declared:
            continue
        value = value.format(tiny=tiny) if isinstance(value, str) else value
        args += ["-p", f"{name}={json.dumps(value)}"]
    env = {**os.environ, "BOOK_DATA_DIR": str(data), "BOOK_CACHE_DIR": str(cache), "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lib", "run", str(notebook), "--profile", "paper", *args,
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def paper_setup(mirror, tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    (root / "data").mkdir()
    (root / "tiny").mkdir()
    return tiny_bert(root / "tiny"), paper_mirror(mirror, root / "data"), root / "cache", root / "executed"


@pytest.mark.book
@pytest.mark.parametrize("notebook", chapters(), ids=lambda p: p.name)
def test_every_chapter_runs_on_the_paper_profile_code_path(notebook, paper_setup):
    """One cache for all chapters, in book order: a later chapter reuses the models of chapter 2."""
    tiny, data, cache, out = paper_setup
    result = run_chapter(notebook, tiny, data, cache, out)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    executed = json.loads((out / notebook.name).read_text(encoding="utf-8"))
    text = json.dumps(executed)
    assert '"ename"' not in text
    if notebook.name == "02_finetuning.ipynb":
        assert_paper_models(cache)


def assert_paper_models(cache: Path) -> None:
    """Chapter 2 trained the paper's tasks on the paper's data, pooled as BERT pools: MNLI and SQuAD
    from the local exports (keyed by their content), EWT from the mirror, [CLS] sentence vectors."""
    identities = [json.loads(path.read_text())["identity"] for path in (cache / "finetune").glob("*/manifest.json")]
    trained = {(i["settings"]["task"], i["settings"]["dataset"]) for i in identities}
    assert trained == {("nli", "mnli"), ("qa", ""), ("parsing", "")}
    assert {i["settings"]["pooling"] for i in identities} == {"cls"}
    for identity in identities:
        if identity["settings"]["task"] != "parsing":
            assert set(identity["data"]["hub_exports"]) in ({"train", "validation_matched"}, {"train", "validation"})
