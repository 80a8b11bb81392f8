"""Domain shift: held-out sentences per domain, frequency-matched samples, the shift command."""
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from lib.experiments.shift import DOMAINS, check_domains, domain_sentences, matched_samples


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_domain_gives_held_out_sentences(mirror, domain):
    records = domain_sentences(domain, 40, str(mirror))
    assert len(records) == 40 and len({r.id for r in records}) == 40
    assert all(4 <= len(r.words) <= 60 for r in records)
    assert domain_sentences(domain, 40, str(mirror)) == records  # a fixed order


def test_held_out_means_not_in_the_training_split(mirror):
    from lib.finetune.tasks import load_task
    train = {r.id for r in load_task("sentiment", 0, 1, 1, data_dir=str(mirror)).train}
    movies = domain_sentences("movies", 0, str(mirror))
    assert movies and not {r.id for r in movies} & train
    assert {r.split for r in domain_sentences("ewt-email", 0, str(mirror))} == {"test"}


def test_samples_match_in_size_and_word_frequency():
    rng = np.random.default_rng(0)
    common, rare = [f"c{i}" for i in range(20)], [f"r{i}" for i in range(3000)]
    plain = list(rng.choice(common, 4000)) + list(rng.choice(rare, 1000))  # mostly frequent words
    odd = list(rng.choice(common, 1000)) + list(rng.choice(rare, 4000))  # mostly rare words
    samples = matched_samples({"plain": plain, "odd": odd}, 600, seed=0)
    assert {d: len(i) for d, i in samples.items()} == {"plain": 600, "odd": 600}
    counts = Counter(plain + odd)
    raw = [np.mean(np.log([counts[w] for w in words])) for words in (plain, odd)]
    matched = [np.mean(np.log([counts[words[i]] for i in samples[d]])) for d, words in (("plain", plain), ("odd", odd))]
    assert abs(raw[0] - raw[1]) > 1.0 and abs(matched[0] - matched[1]) < 0.2 * abs(raw[0] - raw[1])
    again = matched_samples({"plain": plain, "odd": odd}, 600, seed=0)
    assert all((again[d] == samples[d]).all() for d in samples)
    with pytest.raises(ValueError, match="too few sentences .* 6000 tokens.*raise shift_sentences"):
        matched_samples({"plain": plain, "odd": odd}, 6000, seed=0)


def test_domain_names_are_checked():
    with pytest.raises(ValueError, match="unknown domain 'twitter'; valid: snli, ewt-answers"):
        check_domains(["movies", "twitter"])
    with pytest.raises(ValueError, match="at least two domains"):
        check_domains(["movies"])


def test_shift_command(mirror, tmp_path, lib_command):
    result = lib_command(["shift", "--profile", "smoke", "--task", "sentiment", "--no-progress"], tmp_path)
    assert result["task"] == "sentiment"
    entries = result["entries"]
    assert {e["domain"] for e in entries} == {"movies", "tweets", "nyt", "amazon"}
    assert {(e["domain"], e["layer"]) for e in entries} == {(d, l) for d in ("movies", "tweets", "nyt", "amazon")
                                                             for l in range(7)}
    assert all(e["in_domain"] == (e["domain"] == "movies") for e in entries)
    assert all(set(e) >= {"rsa", "cka", "in_domain"} and -1 <= e["rsa"] <= 1 and 0 <= e["cka"] <= 1.0001
               for e in entries)
    layer0 = [e["cka"] for e in entries if e["layer"] == 0]
    assert min(layer0) > 0.95  # the embeddings barely move in two steps of training
    assert {s["domain"] for s in result["scores"]} == {"movies", "tweets", "nyt", "amazon"}
    assert all(0 <= s["value"] <= 1 for s in result["scores"])


@pytest.mark.parametrize("args, message", [
    (["--domains", "movies,twitter"], "unknown domain 'twitter'"),
    (["-p", "shift_tokens=100000"], "too few sentences for a sample of 100000 tokens"),
])
def test_shift_command_errors(mirror, tmp_path, args, message):
    env = {**os.environ, "BOOK_CACHE_DIR": str(tmp_path)}
    bad = subprocess.run([sys.executable, "-m", "lib", "shift", "--profile", "smoke", "--task", "sentiment", *args],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and message in bad.stderr, bad.stderr[-500:]
    assert not (tmp_path / "finetune").exists()  # refused before any training
