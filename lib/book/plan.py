"""The projected time of each chapter of a profile on this machine, before running it.

    python -m lib plan --profile paper        # a table, then a JSON line

A few steps of each kind of work run here with a random-init model of the profile's shape
(``random-init:bert-base`` needs no hub): a training step of each task at its typical padded
length, a forward pass for scoring and for extraction, an epoch of the stacked edge probes and of
the structural probe, and one RSA + CKA comparison at the profile's token count. Each chapter's work
is then counted from the profile (examples, epochs, seeds, models, layers, domains) and multiplied
out, plus a fixed cost per chapter (a kernel starting and importing the library).

A projection, not a measurement, and a low one: it counts the heavy work on synthetic inputs of the
typical length (no task heads, no padding within a batch, single-word probe spans) and leaves out
loading models and data, writing caches and drawing charts. On the cpu profile on a 2-core CPU it
projected about 60 % of the measured cold build; read it as a lower bound and for ratios between
profiles and devices. The typical lengths and the dataset sizes are ours, measured on the mirror
with MiniLM's tokenizer (MNLI's and SQuAD's estimated from their longer texts).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from lib.book.parameters import check_parameters, load_profile
from lib.encoders.loading import RANDOM_PREFIX, load_encoder, model_shape
from lib.encoders.runtime import Runtime, resolve_runtime
from lib.errors import InputError
from lib.finetune.loop import DEV_POINTS

# Subwords of a typical example, specials included: the mean over 1,500 training examples with
# MiniLM's tokenizer (the mirror); MNLI's and SQuAD's (not in the mirror) from their longer texts.
LENGTHS = {"snli": 26, "mnli": 40, "sentiment": 27, "parsing": 21, "qa": 180, "sentence": 21}
# Examples in each split (train, dev, test), the size ``n_* = 0`` stands for.
FULL = {"snli": (94_890, 5_000, 9_824), "mnli": (392_702, 9_815, 9_815), "sentiment": (8_057, 1_007, 1_008),
        "parsing": (12_544, 2_001, 2_077), "qa": (87_599, 10_570, 10_570)}
# Probe corpora: sentences (train, test), and targets per sentence of each probe task (the mirror).
PROBE_SENTENCES = {"ewt": (12_544, 2_077), "gum": (1_575, 1_464), "snli": (26_035, 3_323)}
PROBE_CORPUS = {"upos": "ewt", "deprel": "ewt", "structural": "ewt", "entities": "gum", "coreference": "gum",
                "constituents": "snli"}
TARGETS_PER_SENTENCE = {"upos": 16.3, "deprel": 16.3, "entities": 4.6, "coreference": 7.0, "constituents": 10.3}
CONTROLLED = ("upos", "deprel")
CHAPTER_OVERHEAD_S = 12.0  # a kernel, the library's imports, the charts: measured on the cpu profile
CHAPTERS = ("01_layers", "02_finetuning", "03_probing", "04_similarity", "05_ablations", "06_domain_shift",
            "07_conclusions")


def _dataset(task: str, values: dict) -> str:
    return values["nli_dataset"] if task == "nli" else task


def _size(task: str, values: dict, n: int, split: int) -> int:
    """Examples of a split (0 train, 1 dev, 2 test) that ``n`` (0: all) asks for."""
    full = FULL[_dataset(task, values)][split]
    return full if n == 0 else min(n, full)


def _timed(run: Callable[[], object], device: str, repeats: int) -> float:
    """Seconds per call of ``run``, after one warm-up call."""
    run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


class Bench:
    """Unit costs on this device for one encoder shape."""

    def __init__(self, model: str, runtime: Runtime, steps: int = 3):
        self.runtime, self.device, self.steps = runtime, runtime.device, steps
        self.encoder = load_encoder(model, device=self.device, attention=runtime.attention)
        self.n_layers, self.hidden = self.encoder.model.config.num_hidden_layers, self.encoder.model.config.hidden_size
        self.vocab = self.encoder.model.config.vocab_size

    def _batch(self, batch: int, length: int) -> dict:
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(1000, self.vocab, (batch, length), generator=generator)
        return {"input_ids": ids.to(self.device), "attention_mask": torch.ones_like(ids).to(self.device)}

    def train_step(self, batch: int, length: int) -> float:
        """Seconds per optimizer step of the whole encoder (and a small head)."""
        model = self.encoder.model.train()
        head = torch.nn.Linear(self.hidden, 3).to(self.device)
        optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-5)
        scaler, inputs = self.runtime.grad_scaler(), self._batch(batch, length)

        def step():
            with self.runtime.autocast():
                loss = head(model(**inputs).last_hidden_state[:, 0]).float().logsumexp(-1).mean()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        seconds = _timed(step, self.device, self.steps)
        model.eval()
        return seconds

    @torch.no_grad()
    def forward(self, batch: int, length: int, hidden_states: bool = False) -> float:
        """Seconds per example of an eval forward pass (every layer's states moved to the host if asked)."""
        inputs = self._batch(batch, length)

        def run():
            with self.runtime.autocast():
                out = self.encoder.model(**inputs, output_hidden_states=hidden_states)
            if hidden_states:
                torch.stack(out.hidden_states).float().cpu()
        return _timed(run, self.device, self.steps) / batch

    def probe_epoch(self, n_targets: int = 2048) -> float:
        """Seconds per target and epoch of a stack of per-layer and cumulative edge probes."""
        from lib.probing.edge_probe import EdgeTraining, fit_edge_probes, layer_masks

        layers = self.n_layers + 1
        vectors = np.random.default_rng(0).standard_normal((layers, n_targets, self.hidden)).astype(np.float32)
        spans = [(torch.arange(n_targets), torch.arange(1, n_targets + 1))]
        labels = np.array([str(i % 17) for i in range(n_targets)])
        masks = layer_masks(layers, cumulative=True)
        training = EdgeTraining(epochs=1, batch_size=128, device=self.device)
        return _timed(lambda: fit_edge_probes(vectors, spans, labels, tuple(sorted(set(labels))), 0, training, masks),
                      self.device, 1) / n_targets

    def structural_epoch(self, n_sentences: int = 64, length: int = 17, rank: int = 64) -> float:
        """Seconds per sentence and epoch of the structural probes of every layer."""
        from lib.probing.structural_probe import DistanceTraining, fit_distance_probes

        rng = np.random.default_rng(0)
        sentences = [rng.standard_normal((self.n_layers + 1, length, self.hidden)).astype(np.float32)
                     for _ in range(n_sentences)]
        distances = [np.abs(np.subtract.outer(np.arange(length), np.arange(length))).astype(np.float32)
                     for _ in range(n_sentences)]
        training = DistanceTraining(epochs=1, device=self.device)
        return _timed(lambda: fit_distance_probes(sentences, distances, rank, 0, training),
                      self.device, 1) / n_sentences

    def comparison(self, n_tokens: int) -> float:
        """Seconds for RSA and CKA of every layer of two models on ``n_tokens`` tokens."""
        from lib.similarity.compare import same_layer

        rng = np.random.default_rng(0)
        x, y = (rng.standard_normal((self.n_layers + 1, n_tokens, self.hidden)).astype(np.float32) for _ in range(2))
        return _timed(lambda: same_layer(x, y, device=self.device), self.device, 1)


def _timing_model(model: str) -> str:
    """The random-init model of ``model``'s shape (weights do not change the time)."""
    if model.startswith(RANDOM_PREFIX):
        return model
    return f"{RANDOM_PREFIX}:{model}"


def plan(profile: str, device: str = "auto", overrides: dict | None = None, steps: int = 3) -> dict:
    """Projected seconds per chapter of ``profile`` (with ``overrides``) on ``device`` (``auto``:
    the profile's), and the unit costs they come from; ``steps`` timed calls of each kind of work."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")
    values = check_parameters(**{**load_profile(profile), **(overrides or {})})
    runtime = resolve_runtime(device if device != "auto" else values["device"])
    model = _timing_model(values["model"])
    model_shape(model)  # an unknown model or family fails here, before any work
    bench = Bench(model, runtime, steps)
    layers = bench.n_layers
    tasks, seeds = values["tasks"], values["seeds"]
    bs, eval_bs = values["train_batch_size"], 64

    length = {t: LENGTHS[_dataset(t, values)] for t in tasks}
    step = {t: bench.train_step(bs, min(length[t], values["max_length"][t])) for t in tasks}
    score = {t: bench.forward(eval_bs, min(length[t], values["max_length"][t])) for t in tasks}
    extract = bench.forward(values["batch_size"], LENGTHS["sentence"], hidden_states=True)
    probe = bench.probe_epoch()
    structural = bench.structural_epoch(rank=values["probe_rank"])
    compare = {n: bench.comparison(n) for n in {values["similarity_tokens"], values["shift_tokens"]}}
    units = {"train_step_s": step, "score_example_s": score, "extract_sentence_s": extract,
             "probe_target_epoch_s": probe, "structural_sentence_epoch_s": structural, "comparison_s": compare}

    def finetune(task: str, n_train: int, batch: int, frozen: int = 0) -> float:
        examples = _size(task, values, n_train, 0)
        steps_ = values["train_steps"]
        top = (layers - frozen) / layers  # a frozen bottom runs once (a stored prefix), the top at every step
        return steps_ * step[task] * top + examples * score[task] * frozen / layers

    def evaluate(task: str, n: int, split: int = 2) -> float:
        return _size(task, values, n, split) * score[task]

    n_models = 1 + len(tasks) * len(seeds)
    probe_tasks = values["probe_tasks"]
    corpora = {PROBE_CORPUS[t] for t in probe_tasks}
    train_sents = {c: PROBE_SENTENCES[c][0] if values["probe_train_sentences"] == 0 else
                   min(values["probe_train_sentences"], PROBE_SENTENCES[c][0]) for c in corpora}
    test_sents = {c: PROBE_SENTENCES[c][1] if values["probe_test_sentences"] == 0 else
                  min(values["probe_test_sentences"], PROBE_SENTENCES[c][1]) for c in corpora}
    per_model_probes = sum((train_sents[c] + test_sents[c]) * extract for c in corpora)
    control_probes = 0.0
    for t in probe_tasks:
        if t == "structural":
            per_model_probes += train_sents["ewt"] * values["structural_epochs"] * structural
            continue
        targets = train_sents[PROBE_CORPUS[t]] * TARGETS_PER_SENTENCE[t]
        per_model_probes += targets * values["probe_epochs"] * probe
        if t in CONTROLLED:  # the control stack (per-layer probes only), on the pre-trained encoder alone
            control_probes += targets * values["probe_epochs"] * probe * 0.5
    pairs = len(seeds) * (len(seeds) - 1) // 2
    texts = 2  # each task's own text and the shared Wikipedia pool
    own_sentences = values["probe_test_sentences"] or PROBE_SENTENCES["ewt"][1]
    similarity = (len(tasks) * texts * (1 + len(seeds)) * own_sentences * extract
                  # raw and standardized, each fine-tuned seed and each pair of seeds (the floor)
                  + len(tasks) * texts * 2 * (len(seeds) + pairs) * compare[values["similarity_tokens"]]
                  # the layer-by-layer matrices: every pair of layers, RSA and CKA
                  + len(tasks) * (layers + 1) * compare[values["similarity_tokens"]])

    grid = [k for k in values["ablation_grid"] if k > 0]
    ablation = 0.0
    for t in tasks:
        for _ in values["ablation_seeds"]:
            ablation += sum(finetune(t, values["ablation_n_train"][t], values["ablation_batch_size"][t], k) for k in grid)
            ablation += (len(grid) + 2 * (layers + 1)) * evaluate(t, values["ablation_n_eval"])
    shift = 0.0
    for t in tasks:
        domains = values["shift_domains"].get(t, [])
        shift += len(domains) * (1 + len(seeds)) * values["shift_sentences"] * extract
        shift += len(domains) * (len(seeds) + pairs) * compare[values["shift_tokens"]]
        shift += len(domains) * len(seeds) * (values["shift_eval"] or 500) * score[t]

    chapters = {
        "01_layers": values["n_sentences"] * extract,
        "02_finetuning": sum(len(seeds) * (finetune(t, values["n_train"][t], bs)
                                           + evaluate(t, values["n_dev"], 1) * DEV_POINTS + evaluate(t, values["n_test"]))
                             for t in tasks),
        "03_probing": n_models * per_model_probes + control_probes,
        "04_similarity": similarity,
        "05_ablations": ablation,
        "06_domain_shift": shift,
        "07_conclusions": 0.0,  # every result it reads is cached by the chapters before it
    }
    chapters = {name: round(seconds + CHAPTER_OVERHEAD_S, 1) for name, seconds in chapters.items()}
    return {"profile": profile, "device": runtime.device, "timing_model": model, "layers": layers,
            "precision": bench.runtime.precision, "chapters": chapters, "total_s": round(sum(chapters.values()), 1),
            "units": {k: ({kk: float(f"{vv:.3g}") for kk, vv in v.items()} if isinstance(v, dict) else float(f"{v:.3g}"))
                      for k, v in units.items()}}


def describe(result: dict) -> str:
    """A table of the projection, for people."""
    lines = [f"Projected on {result['device']} ({result['precision']}) with {result['timing_model']} "
             f"({result['layers']} layers), profile {result['profile']}:"]
    for name, seconds in result["chapters"].items():
        lines.append(f"  {name:<18} {seconds:>9.0f} s  ({seconds / 60:.1f} min)")
    lines.append(f"  {'total':<18} {result['total_s']:>9.0f} s  ({result['total_s'] / 60:.1f} min)")
    return "\n".join(lines)

