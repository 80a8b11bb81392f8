"""Layer geometry and linear CKA: properties and naive references on seeded random data."""
import numpy as np
import pytest

from lib.encoders.geometry import cosine_contributions, describe_layers, sample_pairs
from lib.similarity.compare import linear_cka


def naive_cka(x, y):
    """CKA through n x n Gram matrices and HSIC with the centering matrix H."""
    n = len(x)
    h = np.eye(n) - 1 / n
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    return np.sum(k * l) / np.sqrt(np.sum(k * k) * np.sum(l * l))


def test_cka_agrees_with_the_gram_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 10)), rng.normal(size=(60, 7))
    y[:, :3] += x[:, :3]
    assert linear_cka(x, y) == pytest.approx(naive_cka(x, y), abs=1e-6)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariant_to_rotation_and_isotropic_scale():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(80, 12)), rng.normal(size=(80, 12))
    rotation = np.linalg.qr(rng.normal(size=(12, 12)))[0]
    assert linear_cka(x @ rotation * 5.0, y) == pytest.approx(linear_cka(x, y), abs=1e-9)


def test_cka_rejects_constant_and_mismatched_inputs():
    with pytest.raises(ValueError, match="are constant \\(zero variance\\)"):
        linear_cka(np.ones((5, 3)), np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(ValueError, match="same items"):
        linear_cka(np.ones((5, 3)), np.ones((4, 3)))


def test_contributions_sum_to_the_mean_cosine():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(2, 300, 16)) + 0.5
    sentence = np.arange(300) // 10
    a, b = sample_pairs(sentence, 500, seed=0)
    assert (sentence[a] != sentence[b]).all() and len(a) == 500
    unit = vectors / np.linalg.norm(vectors, axis=2, keepdims=True)
    direct = (unit[:, a] * unit[:, b]).sum(axis=2).mean(axis=1)
    np.testing.assert_allclose(cosine_contributions(vectors, a, b).sum(axis=1), direct, atol=1e-12)


def test_isotropic_data_against_one_rogue_dimension():
    rng = np.random.default_rng(3)
    isotropic = rng.normal(size=(1, 2000, 32))
    rogue = isotropic.copy()
    rogue[..., 7] += 20.0
    vectors = np.concatenate([isotropic, rogue])  # layer 0 isotropic, layer 1 one rogue dimension
    table = describe_layers(vectors, np.arange(2000) // 20, n_pairs=3000, top_k=1, seed=0)
    value = table.set_index(["layer", "metric"])["value"]
    assert abs(value[0, "anisotropy"]) < 0.02 and value[1, "anisotropy"] > 0.8
    assert value[1, "rogue_share"] > 0.95
    assert table[(table.layer == 1)].top_dimension.iloc[0] == 7
    assert set(table.metric) == {"norm", "anisotropy", "rogue_share", "cka_next", "cosine_next"}
    assert not ((table.layer == 1) & (table.metric == "cka_next")).any()  # the last layer has no next


def test_pairs_need_two_sentences():
    with pytest.raises(ValueError, match="at least two sentences"):
        sample_pairs(np.zeros(10, dtype=int), 5, seed=0)
