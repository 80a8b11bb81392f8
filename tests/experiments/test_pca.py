"""The PCA view: EWT words with their gold UPOS, the same fixed sample per model, components as a
plain SVD gives them."""
import numpy as np
import pytest

from lib.encoders.extraction import Reps
from lib.errors import InputError
from lib.experiments.inputs import similarity_sentences
from lib.experiments.pca import pca_table
from lib.finetune.vectors import Pretrained

UPOS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"}


@pytest.fixture(scope="module")
def ewt_reps(mirror, cpu_runtime, tmp_path_factory):
    """30 EWT test sentences under MiniLM and its random-init copy (layer cache in a tmp folder)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOOK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        records = similarity_sentences("parsing", "own", 30, str(mirror))
        reps = {name: Pretrained(name).layers(records, cpu_runtime, progress=False) for name in ("minilm", "random-init")}
    return records, reps


def test_the_same_fixed_sample_of_words_with_their_gold_part_of_speech(ewt_reps):
    records, reps = ewt_reps
    table = pca_table(reps, records, n_words=120, seed=0)
    assert list(table.columns) == ["model", "layer", "word", "upos", "pc1", "pc2", "variance"]
    pre, rand = (table[table.model == m].reset_index(drop=True) for m in ("minilm", "random-init"))
    assert len(pre) == len(rand) == 120 and pre.word.tolist() == rand.word.tolist()
    assert set(table.upos) <= UPOS and {"NOUN", "VERB", "PUNCT"} <= set(table.upos)
    assert set(table.layer) == {6}  # the last of MiniLM's 6 layers
    words = {w for r in records for w in r.words}
    assert set(table.word) <= words
    assert table.equals(pca_table(reps, records, n_words=120, seed=0))  # deterministic given the seed
    assert pca_table(reps, records, n_words=120, seed=1).word.tolist() != table.word.tolist()


def test_components_are_those_of_a_plain_svd(ewt_reps):
    records, reps = ewt_reps
    table = pca_table({"minilm": reps["minilm"]}, records, layer=3, n_words=50, seed=0)
    x = reps["minilm"].vectors[3].astype(np.float64)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    index = np.sort(np.random.default_rng(0).choice(len(x), 50, replace=False))
    expected = centred[index] @ vt[:2].T
    assert np.allclose(np.abs(table[["pc1", "pc2"]].to_numpy()), np.abs(expected), atol=1e-6)
    assert table.variance.iloc[0] == pytest.approx(float((s[:2] ** 2).sum() / (s ** 2).sum()))
    assert 0 < table.variance.iloc[0] < 1 and table.layer.iloc[0] == 3


def test_models_of_other_words_are_refused(ewt_reps):
    records, reps = ewt_reps
    r = reps["random-init"]
    fewer = Reps(r.vectors[:, 1:], r.sentence[1:], r.position[1:], r.layers)
    with pytest.raises(InputError, match="other words"):
        pca_table({"minilm": reps["minilm"], "fewer": fewer}, records)
    with pytest.raises(InputError, match="at least one"):
        pca_table({}, records)


def test_the_chart_puts_the_models_side_by_side_coloured_by_part_of_speech(ewt_reps):
    from lib.book.charts import pca_panels

    records, reps = ewt_reps
    table = pca_table(reps, records, n_words=80, seed=0)
    spec = pca_panels(table, title="t", subtitle="s").to_dict()
    assert spec["facet"]["column"]["field"] == "panel" and len({r["panel"] for r in spec["datasets"][spec["data"]["name"]]}) == 2
    encoding = spec["spec"]["encoding"]
    assert encoding["color"]["field"] == "upos" and {"word", "upos"} <= {t["field"] for t in encoding["tooltip"]}
    assert spec["resolve"]["scale"] == {"x": "independent", "y": "independent"}
