"""Probes: targets of the six tasks, control tasks, edge probes, scalar mixes and Tenney's expected
layer, and the structural probe."""
import json

import numpy as np
import pytest
import torch

from lib.data import load_ewt, load_gum, load_snli_parses
from lib.data.records import parse_conllu
from lib.probing.targets import EdgeTargets, control_labels, edge_targets, read_jiant
from lib.encoders.extraction import Reps, word_starts
from lib.probing.edge_probe import (EdgeProbes, EdgeTraining, encode_labels, fit_edge_probe, fit_edge_probes,
                                    layer_masks, score_edge_probe, score_edge_probes, span_index)
from lib.probing.runner import (EdgeTask, ProbeData, check_layers, cumulative_mixes, edge_probe_layers, expected_layer,
                                probe_task_layers)
from lib.probing.structural_probe import (DistanceTraining, _row_spearman, fit_distance_probe, fit_distance_probes,
                                          min_spanning_edges, score_distance_probe, score_distance_probes,
                                          squared_distances, tree_distances)
import reference_probes


def _jiant(tmp_path, rows):
    path = tmp_path / "edges.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ewt_targets(mirror):
    records = load_ewt("dev")[:5]
    upos, deprel = edge_targets(records, "upos"), edge_targets(records, "deprel")
    assert len(upos) == len(deprel) == sum(len(r.words) for r in records)
    root = list(records[0].heads).index(0)
    assert tuple(deprel.span2[root]) == (root, root + 1) and deprel.labels[root] == "root"
    with pytest.raises(ValueError, match="unknown edge task 'ner'"):
        edge_targets(records, "ner")
    with pytest.raises(ValueError, match="hold no entities target: probe entities on its own corpus"):
        edge_targets(records, "entities")


_GUM = """# newdoc id = GUM_news_one
# sent_id = GUM_news_one-1
1\tKim\tKim\tPROPN\tNNP\t_\t2\tnsubj\t_\tEntity=(1-person-new-x-sgl)
2\tmet\tmeet\tVERB\tVBD\t_\t0\troot\t_\t_
3\tthe\tthe\tDET\tDT\t_\t4\tdet\t_\tEntity=(2-person-new-x-coref(3-organization-new-x-coref
4\tboard\tboard\tNOUN\tNN\t_\t2\tobj\t_\tEntity=3)
5\tchair\tchair\tNOUN\tNN\t_\t2\tobj\t_\tEntity=2)|SpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\tEntity=(4-event-new-x-coref

# sent_id = GUM_news_one-2
1\tShe\tshe\tPRON\tPRP\t_\t2\tnsubj\t_\tEntity=(2-person-giv-x-coref)
2\tleft\tleave\tVERB\tVBD\t_\t0\troot\t_\tEntity=4)
3\tit\tit\tPRON\tPRP\t_\t2\tobj\t_\tEntity=(3-organization-giv-x-coref)

"""


def test_gum_mentions_chains_and_targets():
    """Nested and one-word mentions, a mention left open at the sentence's end (dropped), singletons."""
    first, second = parse_conllu(_GUM.splitlines(), "dev", dataset="gum")
    assert first.domain == second.domain == "news"
    assert first.mentions == ((0, 1, "person", ""), (2, 4, "organization", "GUM_news_one/3"),
                              (2, 5, "person", "GUM_news_one/2"))
    assert second.mentions == ((0, 1, "person", "GUM_news_one/2"), (2, 3, "organization", "GUM_news_one/3"))
    entities = edge_targets([first, second], "entities")
    assert entities.labels.tolist() == ["person", "organization", "person", "person", "organization"]
    coreference = edge_targets([first, second], "coreference")
    assert coreference.span1.tolist() == [[2, 4], [0, 1]] and coreference.span2.tolist() == [[2, 5], [2, 3]]
    assert coreference.labels.tolist() == ["0", "0"] and coreference.sentence.tolist() == [0, 1]


def test_gum_and_snli_parses_from_the_mirror(mirror):
    dev = load_gum("dev")
    assert len(dev) == 1575 and len({r.domain for r in dev}) == 15
    mentions = [m for r in dev for m in r.mentions]
    assert {m[2] for m in mentions} == {"person", "abstract", "event", "place", "object", "time", "organization",
                                         "substance", "animal", "plant"}
    assert all(0 <= s < e <= len(r.words) for r in dev for s, e, *_ in r.mentions)
    chains = {}
    for m in mentions:
        chains[m[3]] = chains.get(m[3], 0) + 1
    assert chains.pop("") > 0 and min(chains.values()) >= 2  # a named chain has two mentions or more
    coreference = edge_targets(dev[:300], "coreference")
    assert set(coreference.labels.tolist()) == {"0", "1"}
    parsed = load_snli_parses("test")
    assert len({r.text for r in parsed}) == len(parsed) > 3000
    constituents = edge_targets(parsed[:200], "constituents")
    assert "NP" in constituents.labels and any("+" in label for label in constituents.labels)
    assert all(0 <= a < b <= len(parsed[s].words) for s, (a, b) in zip(constituents.sentence, constituents.span1))


def test_spans_cover_every_subword(mirror, minilm):
    """A span's rows are all the subwords of all its words, whatever the tokenizer splits."""
    from lib.encoders.extraction import extract_layers, to_words

    sentences = [("Unbelievably", "tokenization", "works"), ("a", "dog")]
    reps = extract_layers(minilm, sentences, pooling="subwords", layers=[0, 2], progress=False)
    pieces = [len(minilm.tokenizer.tokenize(w)) for s in sentences for w in s]
    assert len(reps.sentence) == sum(pieces) and pieces[0] > 1 and pieces[1] > 1
    targets = EdgeTargets(
        [tuple(s) for s in sentences], np.array([0, 1]), np.array([[0, 2], [1, 2]]), None, np.array(["x", "y"]))
    begin, end = span_index(targets, word_starts(reps))
    assert begin.tolist() == [0, sum(pieces[:4])] and (end - begin).tolist() == [pieces[0] + pieces[1], pieces[4]]
    for pooling in ("first", "mean"):
        words = extract_layers(minilm, sentences, pooling=pooling, layers=[0, 2], progress=False)
        np.testing.assert_allclose(to_words(reps, pooling).vectors, words.vectors, atol=1e-5)


def test_jiant_reader_and_its_errors(tmp_path):
    rows = [{"text": "The big cat sat .", "targets": [{"span1": [0, 3], "span2": [3, 4], "label": "ARG0"},
                                                      {"span1": [3, 4], "span2": [3, 4], "label": ["V"]}]}]
    targets = read_jiant(_jiant(tmp_path, rows))
    assert targets.span1.tolist() == [[0, 3], [3, 4]] and targets.labels.tolist() == ["ARG0", "V"]
    bad_span = [{"text": "a b", "targets": [{"span1": [1, 5], "label": "X"}]}]
    with pytest.raises(ValueError, match=r"span \[1, 5\] is outside the sentence of 2 words"):
        read_jiant(_jiant(tmp_path, bad_span))
    no_label = [{"text": "a b", "targets": [{"span1": [0, 1]}]}]
    with pytest.raises(ValueError, match="needs span1 and label"):
        read_jiant(_jiant(tmp_path, no_label))
    not_a_span = [{"text": "a b", "targets": [{"span1": "0-1", "label": "X"}]}]
    with pytest.raises(ValueError, match="a span is \\[start, end\\]"):
        read_jiant(_jiant(tmp_path, not_a_span))


def test_control_labels_follow_word_types(mirror):
    train, test = edge_targets(load_ewt("train")[:50], "upos"), edge_targets(load_ewt("test")[:50], "upos")
    control_train, control_test = control_labels([train, test], seed=0)
    by_type = {}
    for targets, labels in ((train, control_train), (test, control_test)):
        for (s, (a, _)), label in zip(zip(targets.sentence, targets.span1), labels):
            by_type.setdefault(targets.words[s][a].lower(), set()).add(label)
    assert all(len(labels) == 1 for labels in by_type.values())
    assert (control_labels([train, test], seed=0)[0] == control_train).all()
    assert not (control_labels([train, test], seed=1)[0] == control_train).all()


def _synthetic(n_sentences=120, width=3, seed=0):
    """Sentences of 6 words; span labels are decided by the sign of dimension 0 of its words' mean."""
    rng = np.random.default_rng(seed)
    words = [tuple(f"w{s}_{i}" for i in range(6)) for s in range(n_sentences)]
    vectors = rng.normal(size=(1, 6 * n_sentences, 16)).astype(np.float32)
    starts = rng.integers(0, 6 - width + 1, size=n_sentences)
    span1 = np.stack([starts, starts + width], axis=1)
    means = np.array([vectors[0, s * 6 + a:s * 6 + b, 0].mean() for s, (a, b) in enumerate(span1)])
    labels = np.where(means > 0, "pos", "neg")
    return vectors, EdgeTargets(words, np.arange(n_sentences), span1, None, labels)


def test_edge_probe_learns_multiword_spans_and_shuffled_labels_sit_at_chance():
    vectors, targets = _synthetic(400)
    spans = [span_index(targets, np.arange(6 * 400 + 1))]
    train, test = slice(0, 300), slice(300, 400)
    label_set = ("neg", "pos")
    probe = fit_edge_probe(vectors, [(b[train], e[train]) for b, e in spans], targets.labels[train], label_set,
                           seed=0, training=EdgeTraining(epochs=30))
    assert score_edge_probe(probe, vectors, [(b[test], e[test]) for b, e in spans], targets.labels[test],
                            label_set) > 0.85
    shuffled = np.random.default_rng(0).permutation(targets.labels)
    probe = fit_edge_probe(vectors, [(b[train], e[train]) for b, e in spans], shuffled[train], label_set,
                           seed=0, training=EdgeTraining(epochs=30))
    chance = score_edge_probe(probe, vectors, [(b[test], e[test]) for b, e in spans], shuffled[test], label_set)
    assert 0.3 < chance < 0.7


def test_scalar_mix_finds_the_informative_layer():
    vectors, targets = _synthetic(400, width=1)
    rng = np.random.default_rng(1)
    stacked = np.concatenate([rng.normal(size=vectors.shape).astype(np.float32), vectors,
                              rng.normal(size=vectors.shape).astype(np.float32)])  # layer 1 has the signal
    spans = [span_index(targets, np.arange(6 * 400 + 1))]
    probe = fit_edge_probe(stacked, spans, targets.labels, ("neg", "pos"), seed=0, training=EdgeTraining(epochs=20))
    weights = probe.weights()[0]
    assert int(weights.argmax()) == 1 and 0.6 < probe.center_of_gravity[0] < 1.4


def test_expected_layer_follows_where_the_signal_enters():
    """Cumulative mixes gain only when the informative layer joins: E_delta sits at that layer,
    while the center of gravity of a mix can sit elsewhere."""
    vectors, targets = _synthetic(800, width=1)
    rng = np.random.default_rng(1)
    noise = [rng.normal(size=vectors.shape).astype(np.float32) for _ in range(3)]
    stacked = np.concatenate([noise[0], noise[1], vectors, noise[2]])  # layer 2 has the signal
    reps = Reps(stacked, np.repeat(np.arange(800), 6), np.tile(np.arange(6), 800), (0, 1, 2, 3))
    part = [EdgeTargets(targets.words, targets.sentence[rows], targets.span1[rows], None, targets.labels[rows])
            for rows in (slice(0, 600), slice(600, 800))]
    mix = cumulative_mixes(EdgeTask("upos", *part, reps, reps), reps, reps, seed=0, training=EdgeTraining(epochs=20))
    scores = list(mix["cumulative"].values())
    assert scores[2] - scores[1] > 0.25 and abs(scores[1] - scores[0]) < 0.15
    assert 1.6 < mix["expected_layer"] < 2.5 and mix["score"] == scores[-1]
    assert expected_layer([0.5, 0.5, 0.9, 0.9]) == pytest.approx(2.0) and np.isnan(expected_layer([0.6, 0.5]))
    assert expected_layer([0.5, 0.9, 0.7, 0.9]) == pytest.approx(1.0)  # a dip and its recovery add nothing


@pytest.mark.parametrize("multi_label", [False, True])
def test_stacked_probes_train_as_each_probe_would_alone(multi_label):
    """Per-layer probes and cumulative mixes trained side by side end where the one-at-a-time probe
    (the code before stacking, kept in reference_probes.py) ends, trained alone on the same batches
    (dropout off, the only draw they do not share)."""
    vectors, targets = _synthetic(200, width=2)
    rng = np.random.default_rng(3)
    layers = np.concatenate([vectors, vectors + rng.normal(size=vectors.shape).astype(np.float32),
                             rng.normal(size=vectors.shape).astype(np.float32)])
    labels = targets.labels
    if multi_label:  # a second label on some spans
        labels = np.array([a + ("+up" if u > 0 else "") for a, u in zip(labels, rng.normal(size=len(labels)))])
    label_set = tuple(sorted({a for label in labels for a in label.split("+")}))
    begin, end = span_index(targets, np.arange(6 * 200 + 1))
    train, test = [(begin[:150], end[:150])], [(begin[150:], end[150:])]
    masks = layer_masks(3, cumulative=True)
    stacked = fit_edge_probes(layers, train, labels[:150], label_set, seed=0,
                              training=EdgeTraining(epochs=3, batch_size=256, lr=1e-3, dropout=0.0, precision="fp32"), masks=masks,
                              multi_label=multi_label)
    scores = score_edge_probes(stacked, layers, test, labels[150:], label_set, multi_label=multi_label)
    for p, mask in enumerate(masks):
        alone = reference_probes.fit_edge_probe(layers[mask.numpy()], train, labels[:150], label_set, seed=0,
                                                epochs=3, multi_label=multi_label, dropout=0.0)
        np.testing.assert_allclose(stacked.out[p].detach().numpy(), alone.mlp[4].weight.detach().T.numpy(), atol=1e-4)
        np.testing.assert_allclose(stacked.weights()[p, mask].detach().numpy(),
                                   alone.mix.detach().softmax(0).numpy(), atol=1e-4)
        alone_score = score_edge_probe(_as_stack(alone, mask), layers, test, labels[150:], label_set,
                                       multi_label=multi_label)
        assert abs(scores[p] - alone_score) < 0.01
    assert scores[0] > scores[2] + 0.15  # the signal is in layer 0, layer 2 is noise
    half = fit_edge_probes(layers, train, labels[:150], label_set, seed=0,
                           training=EdgeTraining(epochs=3, batch_size=256, lr=1e-3, dropout=0.0, precision="bf16"), masks=masks,
                           multi_label=multi_label)
    assert half.bf16 and not stacked.bf16
    half_scores = score_edge_probes(half, layers, test, labels[150:], label_set, multi_label=multi_label)
    assert np.abs(np.array(half_scores) - scores).max() < 0.06  # bf16 products: the same probes, to rounding
    with pytest.raises(ValueError, match="unknown probe precision 'fp16'"):
        fit_edge_probes(layers, train, labels[:150], label_set, seed=0, training=EdgeTraining(precision="fp16"),
                        multi_label=multi_label)


def _as_stack(probe, mask):
    """A lone reference probe as a one-probe stack, to score it with the library's scorer."""
    stack = EdgeProbes(probe.pools[0].project.in_features, probe.mlp[4].out_features, len(probe.pools),
                       mask[None]).eval()
    with torch.no_grad():
        stack.mix[0, mask] = probe.mix
        stack.gamma[0] = probe.gamma
        for i, pool in enumerate(probe.pools):
            stack.project[i][0] = pool.project.weight.T
            stack.project_bias[i][0, 0] = pool.project.bias
            stack.attend[i][0] = pool.score.weight.T
            stack.attend_bias[i][0, 0] = pool.score.bias
        stack.hidden[0], stack.hidden_bias[0, 0] = probe.mlp[0].weight.T, probe.mlp[0].bias
        stack.norm_weight[0, 0], stack.norm_bias[0, 0] = probe.mlp[2].weight, probe.mlp[2].bias
        stack.out[0], stack.out_bias[0, 0] = probe.mlp[4].weight.T, probe.mlp[4].bias
    return stack


def test_multi_label_targets_get_one_sigmoid_per_label():
    """Spans carrying two labels: a multi-label probe predicts both; micro-F1 counts every decision."""
    vectors, targets = _synthetic(400, width=2)
    second = np.where(vectors[0, targets.sentence * 6 + targets.span1[:, 0], 1] > 0, "up", "")
    labels = np.array([a + ("+" + b if b else "") for a, b in zip(targets.labels, second)])
    label_set = ("neg", "pos", "up")
    assert encode_labels(labels[:3], label_set, multi_label=True).sum(1).tolist() == [
        1 + (b != "") for b in second[:3]]
    spans = [span_index(targets, np.arange(6 * 400 + 1))]
    train, test = slice(0, 300), slice(300, 400)
    probe = fit_edge_probe(vectors, [(b[train], e[train]) for b, e in spans], labels[train], label_set, seed=0,
                           training=EdgeTraining(epochs=40), multi_label=True)
    score = score_edge_probe(probe, vectors, [(b[test], e[test]) for b, e in spans], labels[test], label_set,
                             multi_label=True)
    assert score > 0.8
    empty = fit_edge_probe(vectors, [(b[train], e[train]) for b, e in spans], labels[train], label_set, seed=0,
                           training=EdgeTraining(epochs=0), multi_label=True)  # untrained: F1 well below trained
    assert score_edge_probe(empty, vectors, [(b[test], e[test]) for b, e in spans], labels[test], label_set,
                            multi_label=True) < score - 0.2


def test_unknown_label_at_test_time():
    with pytest.raises(ValueError, match="labels \\['INTJ'\\] were not seen in training; known: NOUN, VERB"):
        encode_labels(np.array(["NOUN", "INTJ"]), ("NOUN", "VERB"))


def _tree_vectors(heads):
    """Each word: the sum of one-hot edge vectors on its path to the root, so that squared
    distances are exactly tree distances."""
    n = len(heads)
    vectors = np.zeros((n, n), dtype=np.float32)
    for word in range(n):
        node = word
        while heads[node] > 0:
            vectors[word, node] = 1.0
            node = heads[node] - 1
    return vectors


def test_tree_distances_and_a_perfect_embedding():
    heads = (2, 0, 2, 5, 3)  # 1 <- 2 (root) -> 3 -> 5 -> 4
    gold = tree_distances(heads)
    assert gold[0, 3] == 4 and gold[1, 4] == 2 and (gold == gold.T).all() and (np.diag(gold) == 0).all()
    x = torch.as_tensor(_tree_vectors(heads))
    np.testing.assert_allclose(squared_distances(x).numpy(), gold, atol=1e-5)
    assert min_spanning_edges(gold) == {frozenset(e) for e in [(0, 1), (1, 2), (2, 4), (3, 4)]}
    scores = score_distance_probe(torch.eye(5), [x.numpy()], [heads], [np.zeros(5, bool)])
    assert scores["uuas"] == 1.0


def test_distance_probe_recovers_trees_from_noisy_embeddings(mirror):
    records = [r for r in load_ewt("dev") if 5 <= len(r.words) <= 30][:160]
    rng = np.random.default_rng(0)
    dim = 40
    embedded = []
    for r in records:  # tree embedding in the first dimensions, padded and rotated, plus noise
        v = _tree_vectors(r.heads)
        v = np.pad(v, ((0, 0), (0, dim - v.shape[1])))
        embedded.append(v + 0.05 * rng.normal(size=v.shape).astype(np.float32))
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)
    embedded = [e @ rotation for e in embedded]
    b = fit_distance_probe(embedded[:120], [tree_distances(r.heads) for r in records[:120]], rank=40, seed=0,
                           training=DistanceTraining(epochs=40, lr=1e-2))
    punct = [np.zeros(len(r.words), bool) for r in records[120:]]
    scores = score_distance_probe(b, embedded[120:], [r.heads for r in records[120:]], punct)
    assert scores["uuas"] > 0.8 and scores["spearman"] > 0.8


def test_stacked_distance_probes_equal_lone_ones_and_rank_correlation_equals_scipy(mirror):
    """Three views of the words trained side by side give the maps each one gives alone, and the
    vectorised Spearman equals scipy's word by word (ties included)."""
    records = [r for r in load_ewt("dev") if 5 <= len(r.words) <= 20][:60]
    rng = np.random.default_rng(0)
    views = [[rng.normal(size=(len(r.words), 12)).astype(np.float32) for r in records] for _ in range(3)]
    distances = [tree_distances(r.heads) for r in records]
    together = fit_distance_probes([np.stack(words) for words in zip(*views)], distances, rank=4, seed=0,
                                   training=DistanceTraining(epochs=3))
    heads, punct = [r.heads for r in records], [np.array([t == "PUNCT" for t in r.upos]) for r in records]
    scores = score_distance_probes(together, [np.stack(words) for words in zip(*views)], heads, punct)
    for view, b in zip(views, together):
        alone = fit_distance_probe(view, distances, rank=4, seed=0, training=DistanceTraining(epochs=3))
        np.testing.assert_allclose(b.numpy(), alone.numpy(), atol=1e-5)
    alone = score_distance_probe(together[1], views[1], heads, punct)
    assert scores[1]["uuas"] == alone["uuas"] and scores[1]["spearman"] == alone["spearman"]
    assert (scores[1]["counts"] == alone["counts"]).all() and scores[1]["counts"].shape == (len(records), 3)
    predicted = rng.integers(0, 4, size=(2, 7, 7)).astype(np.float32)  # many ties
    gold = tree_distances((2, 0, 2, 5, 3, 5, 6))
    for p in predicted:
        np.testing.assert_allclose(_row_spearman(p, gold), reference_probes.row_spearman(p, gold), atol=1e-6)


def test_layers_and_tasks_are_checked():
    reps = Reps(np.zeros((3, 4, 2), np.float32), np.zeros(4, int), np.arange(4), (0, 1, 2))
    with pytest.raises(ValueError, match="layers \\[7\\] do not exist; the model has layers 0..2"):
        check_layers([7], reps)
    with pytest.raises(ValueError, match="unknown probe task 'ner'"):
        probe_task_layers("ner", ProbeData(reps, reps, [], []), seed=0)


def test_probes_are_deterministic_on_real_vectors(mirror, minilm):
    from lib.encoders.extraction import extract_layers

    train, test = load_ewt("train")[:30], load_ewt("test")[:20]
    reps = [extract_layers(minilm, [r.words for r in part], layers=[0, 3], progress=False) for part in (train, test)]
    first = edge_probe_layers(ProbeData(*reps, train, test), "upos", seed=0, training=EdgeTraining(epochs=2))
    second = edge_probe_layers(ProbeData(*reps, train, test), "upos", seed=0, training=EdgeTraining(epochs=2))
    assert first.equals(second) and list(first.layer) == [0, 3]
    assert (first.selectivity == first.score - first.control).all()


def test_probe_command(mirror, tmp_path, lib_command):
    summary = lib_command(["probe", "--profile", "smoke", "--task", "deprel"], tmp_path)
    assert [entry["layer"] for entry in summary["layers"]] == list(range(7))
    assert {"layer", "score", "control", "selectivity", "linear", "score_per_probe_seed"} == set(summary["layers"][0])
    assert len(summary["layers"][0]["score_per_probe_seed"]) == len(summary["probe_seeds"]) == 3
    baselines = summary["baselines"]
    assert set(baselines) == {"majority", "layer_0", "random_init", "random_init_layers"}
    assert baselines["layer_0"] == round(summary["layers"][0]["score"], 4) and len(baselines["random_init_layers"]) == 7
    assert 0 <= summary["mix"]["score"] <= 1 and isinstance(summary["informative"], bool)
    assert 0 <= summary["center_of_gravity"] <= 6 and len(summary["cumulative"]) == 7
    gained = max(summary["cumulative"]) > summary["cumulative"][0]
    assert (0 <= summary["expected_layer"] <= 6) if gained else summary["expected_layer"] is None


def test_probe_command_for_a_semantic_task(mirror, tmp_path, lib_command):
    summary = lib_command(["probe", "--profile", "smoke", "--task", "entities"], tmp_path)
    assert [entry["layer"] for entry in summary["layers"]] == list(range(7))
    assert summary["layers"][0]["control"] is None and summary["control"].startswith("none")
    assert summary["corpus"] == "GUM dev / test" and 0 <= summary["center_of_gravity"] <= 6
    assert 0 < summary["baselines"]["majority"] < 1 and summary["control_model"] == "random-init"


def test_probe_command_for_the_structural_probe(mirror, tmp_path, lib_command):
    summary = lib_command(["probe", "--profile", "smoke", "--task", "structural"], tmp_path)
    assert [entry["layer"] for entry in summary["layers"]] == list(range(7)) and "mix" not in summary
    assert set(summary["baselines"]) == {"majority", "layer_0", "linear_chain", "random_init", "random_init_layers"}
    assert 0.3 < summary["baselines"]["linear_chain"] < 0.6 and summary["baselines"]["majority"] is None


def test_probe_tables_are_stored_by_content(mirror, tiny_bert_dir, tmp_path, monkeypatch, cpu_runtime):
    """Reused when nothing changed; computed anew for other sentences or labels (the record content)."""
    from dataclasses import replace

    from lib.finetune.vectors import Pretrained
    from lib.probing import runner
    from lib.probing.runner import Probing, probe_model

    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    train, test = load_ewt("train")[:12], load_ewt("test")[:8]
    model = Pretrained(str(tiny_bert_dir))
    probing = Probing(tasks=("upos",), n_train=12, n_test=8, epochs=1, structural_epochs=1, rank=4, seed=0)
    first, _ = probe_model(model, {"ewt": (train, test)}, probing, cpu_runtime, progress=False)
    with monkeypatch.context() as patched:
        patched.setattr(runner, "edge_task_probes", lambda *a, **k: pytest.fail("a stored table must be reused"))
        again, _ = probe_model(model, {"ewt": (train, test)}, probing, cpu_runtime, progress=False)
    assert again.equals(first) and len(list((tmp_path / "probes").iterdir())) == 1
    relabelled = [replace(r, upos=("X",) * len(r.words)) if i == 0 else r for i, r in enumerate(test)]
    probe_model(model, {"ewt": (train, relabelled)}, probing, cpu_runtime, progress=False)
    assert len(list((tmp_path / "probes").iterdir())) == 2


def test_control_tasks_run_on_the_pre_trained_encoder_alone(mirror, tiny_bert_dir, tmp_path, monkeypatch, cpu_runtime):
    """Selectivity is a question about the probe, asked of the pre-trained encoder; the random-init
    control (and every fine-tuned model) is probed without the control stack."""
    from lib.finetune.vectors import Pretrained
    from lib.probing.runner import Probing, probe_model

    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    train, test = load_ewt("train")[:12], load_ewt("test")[:8]
    probing = Probing(tasks=("upos",), n_train=12, n_test=8, epochs=1, structural_epochs=1, rank=4, seed=0, seeds=1)
    pre, _ = probe_model(Pretrained(str(tiny_bert_dir)), {"ewt": (train, test)}, probing, cpu_runtime, progress=False)
    assert pre.control.notna().all() and (pre.selectivity == pre.score - pre.control).all()
    control, _ = probe_model(Pretrained(f"random-init:{tiny_bert_dir}"), {"ewt": (train, test)}, probing, cpu_runtime,
                             progress=False)
    assert "control" not in control and "selectivity" not in control and control.score.notna().all()
