"""RSA and CKA against naive references and their properties; bad input."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from lib.similarity.cka import debiased_cka_torch, linear_cka_torch
from lib.similarity.rsa import pairwise_pearson, prepare, rdm_rows, upper_triangle
from lib.similarity.compare import (same_layer, sample_tokens, similarity_matrix, standardized, versus_pretrained)

SCIPY = {"cosine": "cosine", "correlation": "correlation", "euclidean": "euclidean"}


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 120, 24)).astype(np.float32)
    y = (0.7 * x + rng.normal(size=x.shape)).astype(np.float32)
    return x, y


@pytest.mark.parametrize("method", ["cosine", "correlation", "euclidean"])
def test_rsa_matches_pdist_and_scipy_correlations(pair, method):
    x, y = pair
    np.testing.assert_allclose(upper_triangle(torch.tensor(x[0]), method).numpy(), pdist(x[0], SCIPY[method]),
                               atol=2e-6)
    pearson = similarity_matrix(x, y, "rsa", method, "pearson")
    spearman = similarity_matrix(x, y, "rsa", method, "spearman")
    for i, j in [(0, 0), (1, 2)]:
        a, b = pdist(x[i], SCIPY[method]), pdist(y[j], SCIPY[method])
        assert pearson[i, j] == pytest.approx(pearsonr(a, b).statistic, abs=1e-6)
        assert spearman[i, j] == pytest.approx(spearmanr(a, b).statistic, abs=1e-6)


def test_an_rdm_is_symmetric_with_a_zero_diagonal(pair):
    x = prepare(torch.tensor(pair[0][0]), "cosine")
    full = rdm_rows(x, 0, x.shape[0], "cosine")
    assert torch.allclose(full, full.T, atol=1e-6) and torch.allclose(full.diagonal(), torch.zeros(120), atol=1e-5)


def test_chunks_do_not_change_the_result(pair):
    x, y = map(torch.tensor, pair)
    np.testing.assert_allclose(pairwise_pearson(x, y, "cosine", chunk=7).numpy(),
                               pairwise_pearson(x, y, "cosine", chunk=1000).numpy(), atol=1e-10)


def naive_debiased_cka(x, y):
    """Unbiased HSIC from n x n Gram matrices (Song et al. 2012), then CKA."""
    def hsic(k, l):
        n = len(k)
        k, l = k.copy(), l.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(l, 0)
        ones = np.ones(n)
        return (np.trace(k @ l) + ones @ k @ ones * (ones @ l @ ones) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * ones @ k @ l @ ones) / (n * (n - 3))
    x, y = x - x.mean(0), y - y.mean(0)
    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def test_debiased_cka_matches_the_gram_formula(pair):
    x, y = (v[0].astype(np.float64) for v in pair)
    ours = float(debiased_cka_torch(torch.tensor(x), torch.tensor(y)))
    assert ours == pytest.approx(naive_debiased_cka(x, y), abs=1e-6)


@pytest.mark.parametrize("cka", [linear_cka_torch, debiased_cka_torch])
def test_cka_properties(pair, cka):
    x, y = (torch.tensor(v[0], dtype=torch.float64) for v in pair)
    rotation = torch.linalg.qr(torch.randn(24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    assert float(cka(x, x)) == pytest.approx(1.0, abs=1e-9)
    assert float(cka(x @ rotation * 4.0, y)) == pytest.approx(float(cka(x, y)), abs=1e-9)
    assert float(cka(x, y + 3.0)) == pytest.approx(float(cka(x, y)), abs=1e-9)  # centring


@pytest.mark.parametrize("make, message", [
    (lambda x: (x, x[:, :50]), "same items: 120 vs 50 tokens"),
    (lambda x: (x[:, :3], x[:, :3]), "at least 4 tokens"),
    (lambda x: (np.where(np.arange(24) == 3, np.nan, x).astype(np.float32), x), "NaN or inf"),
    (lambda x: (np.full_like(x, np.inf), x), "NaN or inf"),
    (lambda x: (np.concatenate([x[:1], np.ones_like(x[:1])]), x[:2]), r"layer\(s\) \[1\] are constant"),
])
def test_bad_input_is_refused(pair, make, message):
    a, b = make(pair[0])
    with pytest.raises(ValueError, match=message):
        similarity_matrix(a, b, "cka")


def test_unknown_options_list_the_valid_ones(pair):
    x, y = pair
    with pytest.raises(ValueError, match="valid: cosine, correlation, euclidean"):
        similarity_matrix(x, y, "rsa", method="manhattan")
    with pytest.raises(ValueError, match="valid: pearson, spearman"):
        similarity_matrix(x, y, "rsa", compare="kendall")
    with pytest.raises(ValueError, match="valid: rsa, cka, cka_debiased"):
        similarity_matrix(x, y, "procrustes")


def test_same_layer_seed_floor_and_standardisation(pair):
    x, y = pair
    table = same_layer(x, y)
    assert list(table.layer) == [0, 1, 2] and (table[["rsa", "cka"]] > 0).all().all()
    floor = versus_pretrained(x, [y, y + 0.01])
    assert (floor.seed_floor > floor.value).all()  # two near-identical seeds agree more than with x
    assert versus_pretrained(x, [y]).seed_floor.isna().all()
    z = standardized(torch.tensor(x))
    assert torch.allclose(z.mean(1), torch.zeros(3, 24), atol=1e-5)
    assert torch.allclose(z.std(1), torch.ones(3, 24), atol=1e-4)


def test_standardising_removes_a_rogue_dimension():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 300, 16)).astype(np.float32)
    rogue_x, rogue_y = x.copy(), x.copy()
    rogue_x[..., 0] = 50 + 30 * rng.normal(size=300)  # a huge dimension, unrelated between the two
    rogue_y[..., 0] = 50 + 30 * rng.normal(size=300)
    raw = same_layer(rogue_x, rogue_y).rsa[0]
    fixed = same_layer(rogue_x, rogue_y, standardize=True).rsa[0]
    assert raw < 0.3 < 0.8 < fixed


def test_token_sample():
    index = sample_tokens(1000, 200, seed=3)
    assert len(index) == 200 and (np.diff(index) > 0).all() and (index == sample_tokens(1000, 200, 3)).all()
    assert len(sample_tokens(50, 200, 0)) == 50
    with pytest.raises(ValueError, match="at least 4"):
        sample_tokens(100, 3, 0)


def test_similarity_command(mirror, tmp_path, lib_command):
    summary = lib_command(["similarity", "--profile", "smoke", "--task", "sentiment"], tmp_path)
    assert summary["inputs"] == {"own": "movie snippets of the sentiment test split",
                                 "wikipedia": "Wikipedia sentences, shared by every task"}
    for inputs in ("own", "wikipedia"):
        layers = summary["layers"][inputs]
        assert [e["layer"] for e in layers] == list(range(7))
        assert set(layers[0]) == {"layer", "rsa", "cka", "rsa_seed_floor", "cka_seed_floor"}
        assert all(0 <= e["cka"] <= 1 for e in layers)
    assert summary["layers"]["own"] != summary["layers"]["wikipedia"]  # two texts, two measurements


def test_the_comparisons_seed_by_seed_give_the_means_and_the_floor():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 30, 6))
    tuned = [x + rng.normal(size=x.shape) * s for s in (0.2, 0.4, 0.6)]
    table, rows = versus_pretrained(x, tuned), versus_pretrained(x, tuned, per_seed=True)
    assert sorted(set(zip(rows.seed, rows.other))) == [(0, -1), (0, 1), (0, 2), (1, -1), (1, 2), (2, -1)]
    rsa = rows[(rows.measure == "rsa") & (rows.layer == 1)]
    row = table[(table.measure == "rsa") & (table.layer == 1)].iloc[0]
    assert np.isclose(rsa[rsa.other == -1].value.mean(), row.value)
    assert np.isclose(rsa[rsa.other >= 0].value.mean(), row.seed_floor)
