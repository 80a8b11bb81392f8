"""Probes trained to convergence, their informed baselines and the per-sentence counts behind
every score: early stopping keeps the best-dev epoch, the baselines equal their definitions, the
counts reproduce the table's scores, and the all-layer mix reaches the best layer on real data."""
import numpy as np
import pytest
import torch

from lib.data import load_ewt, load_gum
from lib.probing.baselines import decision_counts, linear_probe_counts, majority_counts, span_means
from lib.probing.edge_probe import EdgeTraining, count_edge_probes, f1, fit_edge_probes, layer_masks, span_index
from lib.probing.layerwise import dev_split, per_sentence, score_of
from lib.probing.structural_probe import linear_chain_counts
from lib.probing.targets import edge_targets


def _noisy(n=300, seed=0):
    """One-word spans whose label is the sign of dimension 0, with label noise so dev scores wobble."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(2, n, 8)).astype(np.float32)  # (layers, rows, hidden)
    labels = np.where(vectors[1, :, 0] + rng.normal(scale=0.7, size=n) > 0, "pos", "neg")
    spans = [(torch.arange(n), torch.arange(n) + 1)]
    return vectors, spans, labels


def test_early_stopping_keeps_each_probes_best_dev_epoch():
    vectors, spans, labels = _noisy()
    dev = np.arange(len(labels)) % 5 == 4
    masks = layer_masks(2, cumulative=True)
    training = EdgeTraining(epochs=8, patience=8, batch_size=32, dropout=0.0, precision="fp32")
    probes = fit_edge_probes(vectors, spans, labels, ("neg", "pos"), 0, training, masks, dev=dev)
    curve = probes.dev_curve_
    assert curve.shape == (8, 3)
    assert (probes.best_epoch_ == curve.argmax(0) + 1).all()  # the first epoch of the best dev score
    rows = np.flatnonzero(dev)
    kept = count_edge_probes(probes, vectors, [(b[rows], e[rows]) for b, e in spans], labels[rows], ("neg", "pos"))
    np.testing.assert_allclose(f1(torch.as_tensor(kept.sum(1), dtype=torch.float64)).numpy(), curve.max(0), atol=1e-6)
    stopped = fit_edge_probes(vectors, spans, labels, ("neg", "pos"), 0, EdgeTraining(epochs=30, patience=1), masks,
                              dev=dev)
    epochs = len(stopped.dev_curve_)
    assert epochs < 30 and (stopped.dev_curve_[-1] <= stopped.dev_curve_[:-1].max(0)).all()  # stopped when stale


def test_linear_chain_on_known_trees():
    chain = (2, 0, 2, 3)  # 1-2, 2-3, 3-4: the chain itself
    star = (0, 1, 1, 1)  # word 1 heads the others: the chain finds 1-2 only
    with_punct = (2, 0, 2, 2)  # word 4 is punctuation: left out of both trees
    punct = [np.zeros(4, bool), np.zeros(4, bool), np.array([False, False, False, True])]
    counts = linear_chain_counts([chain, star, with_punct], punct)
    assert counts.tolist() == [[3, 0, 0], [1, 2, 2], [2, 0, 0]]
    assert score_of(counts) == pytest.approx(6 / 8)  # UUAS: 6 of 8 gold edges


def test_majority_baseline_is_the_majority_rate(mirror):
    train, test = edge_targets(load_ewt("train")[:200], "upos"), edge_targets(load_ewt("test")[:100], "upos")
    label_set = tuple(sorted(set(train.labels) | set(test.labels)))
    values, counts = np.unique(train.labels, return_counts=True)
    rate = float(np.mean(test.labels == values[counts.argmax()]))
    assert score_of(majority_counts(train.labels, test.labels, label_set)) == pytest.approx(rate)
    coreference = edge_targets(load_gum("dev")[:200], "coreference")
    p = float(np.mean(coreference.labels == "1"))
    assert p < 0.5  # the majority says "no" and would score 0 on "same entity": the constant "yes" is kept
    found = score_of(majority_counts(coreference.labels, coreference.labels, ("0", "1"), positive="1"))
    assert found == pytest.approx(2 * p / (1 + p))


def test_linear_probe_and_counts():
    vectors, spans, labels = _noisy(400)
    x = span_means(vectors[1], spans)
    counts = linear_probe_counts(x[:300], labels[:300], x[300:], labels[300:], ("neg", "pos"))
    assert counts.shape == (100, 3) and score_of(counts) > 0.7
    guess = np.array([[1, 0], [1, 0], [0, 1]], bool)
    gold = np.array([[1, 0], [0, 1], [0, 1]], bool)
    assert decision_counts(guess, gold, column=1).tolist() == [[0, 0, 0], [0, 0, 1], [1, 0, 0]]
    assert per_sentence(decision_counts(guess, gold), np.array([0, 0, 1]), 2).tolist() == [[1, 1, 1], [1, 0, 0]]
    assert dev_split(10).sum() == 2


@pytest.fixture(scope="module")
def small_run(mirror, tmp_path_factory):
    """MiniLM probed on 100 + 40 sentences per corpus: UPOS, structural and coreference."""
    import os

    from lib.encoders.runtime import resolve_runtime
    from lib.finetune.vectors import Pretrained
    from lib.probing.runner import Probing, probe_corpora, probe_items, probe_model

    os.environ["BOOK_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        runtime = resolve_runtime("cpu", str(mirror))
        probing = Probing(tasks=("upos", "structural", "coreference"), n_train=100, n_test=40, epochs=4,
                          structural_epochs=4, rank=16, seeds=2)
        corpora = probe_corpora(probing, str(mirror))
        model = Pretrained("minilm")
        layers, mixes = probe_model(model, corpora, probing, runtime, progress=False)
        items = probe_items(model, corpora, probing, runtime, progress=False)
    finally:
        del os.environ["BOOK_CACHE_DIR"]
    return layers, mixes, items, corpora


def test_probe_items_reproduce_every_score(small_run):
    layers, mixes, items, corpora = small_run
    assert items.columns.tolist() == ["probe", "layer", "probe_seed", "sentence", "tp", "fp", "fn"]
    assert set(items.probe_seed) == {0, 1} and set(layers.probe_seed) == {0, 1}
    for (probe, layer, seed), group in items.groupby(["probe", "layer", "probe_seed"]):
        assert group.sentence.tolist() == list(range(40))  # every test sentence, in order
        sums = group[["tp", "fp", "fn"]].sum()
        score = 2 * sums.tp / (2 * sums.tp + sums.fp + sums.fn)
        if layer == -1:
            expected = mixes[(mixes.task == probe) & (mixes.probe_seed == seed)].score.item()
        else:
            expected = layers[(layers.task == probe) & (layers.layer == layer) & (layers.probe_seed == seed)].score.item()
        assert score == pytest.approx(expected, abs=1e-12)
    assert set(items[items.probe == "structural"].layer) == set(range(7))  # no mix for the structural probe


def test_baselines_sit_beside_the_scores(small_run):
    layers, _, _, _ = small_run
    upos = layers[layers.task == "upos"]
    assert upos.majority.nunique() == 1 and (upos.score > upos.majority).all() and upos.informative.all()
    assert upos.linear.notna().sum() == 3  # first, middle and last layer, of the first probe seed
    structural = layers[layers.task == "structural"]
    assert 0.2 < structural.linear_chain.iloc[0] < 0.6
    coreference = layers[layers.task == "coreference"]
    assert 0 < coreference.majority.iloc[0] < 0.5  # F1 of the constant "same entity"


def test_the_mix_reaches_the_best_layer_on_real_vectors(small_run):
    layers, mixes, _, _ = small_run
    best = layers[layers.task == "upos"].groupby("layer").score.mean().max()
    mix = mixes[mixes.task == "upos"].score
    noise = max(0.01, layers[layers.task == "upos"].groupby("layer").score.agg(np.ptp).max())
    assert mix.mean() >= best - noise
