"""Readers of every dataset's format, on the mirror and on small files the tests write."""
import json

import pytest

from lib.data import (EWT_GENRES, VADER_DOMAINS, load_ewt, load_mnli, load_snli, load_squad, load_vader,
                      load_wikipedia, split_words)
from lib.data.records import parse_conllu

CONLLU = """# sent_id = email-x-0001
# text = Don't go.
1-2	Don't	_	_	_	_	_	_	_	_
1	Do	do	AUX	VBP	_	3	aux	_	_
2	n't	not	PART	RB	_	3	advmod	_	_
3	go	go	VERB	VB	_	0	root	_	_
3.1	gone	go	VERB	VB	_	_	_	3:conj	_
4	.	.	PUNCT	.	_	3	punct	_	_
"""


def test_conllu_skips_multiword_ranges_and_empty_nodes():
    [record] = parse_conllu(CONLLU.splitlines(), "dev")
    assert record.words == ("Do", "n't", "go", ".")
    assert record.heads == (3, 3, 0, 3) and record.deprels[2] == "root"
    assert record.domain == "email" and record.text == "Don't go."


def test_ewt_splits_have_the_release_sizes_and_genres(mirror):
    sizes = {split: len(load_ewt(split)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 12544, "dev": 2001, "test": 2077}
    dev = load_ewt("dev")
    assert {r.domain for r in dev} == set(EWT_GENRES)
    first = dev[0]
    assert first.words == ("From", "the", "AP", "comes", "this", "story", ":")
    assert first.upos[3] == "VERB" and first.heads[3] == 0
    assert all(len(r.words) == len(r.upos) == len(r.heads) == len(r.deprels) for r in dev)
    assert all(0 <= h <= len(r.words) for r in dev for h in r.heads)


def test_snli_drops_no_consensus_pairs_and_carves_a_disjoint_dev(mirror):
    test = load_snli("test")
    assert len(test) == 10_000 - 176
    assert {r.label for r in test} == {"entailment", "neutral", "contradiction"}
    train, dev = load_snli("train"), load_snli("dev")
    assert len(dev) == 5_000 and not {r.id for r in train} & {r.id for r in dev}
    assert test[0].pair and test[0].words == split_words(test[0].text)


def test_vader_domains_have_their_sizes_and_ratings(mirror):
    sizes = {domain: len(load_vader(domain)) for domain in VADER_DOMAINS}
    assert sizes == {"movies": 10605, "tweets": 4200, "nyt": 5190, "amazon": 3708}
    tweets = load_vader("tweets")
    assert all(-4 <= r.label <= 4 for r in tweets)
    assert not any(r.text.endswith("\r") for r in tweets)  # the file has CRLF line endings


def test_wikipedia_sample_is_paragraphs_with_titles(mirror):
    paragraphs = load_wikipedia()
    assert len(paragraphs) == 5824 and paragraphs[0].domain == "Anarchism"
    assert 400_000 < sum(len(r.words) for r in paragraphs) < 600_000


@pytest.mark.parametrize("loader, bad", [(load_ewt, "validation"), (load_snli, "dev_matched"),
                                         (load_vader, "imdb")])
def test_unknown_split_or_domain_lists_the_valid_ones(loader, bad):
    with pytest.raises(ValueError, match="valid: "):
        loader(bad)


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_mnli_hub_rows(tmp_path):
    rows = [{"premise": "A man eats.", "hypothesis": "Someone eats.", "label": 0, "genre": "fiction",
             "pairID": "1e"},
            {"premise": "A man eats.", "hypothesis": "Nobody eats.", "label": 2, "genre": "fiction",
             "pairID": "1c"},
            {"premise": "x", "hypothesis": "y", "label": -1, "genre": "slate", "pairID": "2"}]
    records = load_mnli("validation_matched", path=_write_jsonl(tmp_path / "mnli.jsonl", rows))
    assert [r.label for r in records] == ["entailment", "contradiction"]
    assert records[0].domain == "fiction" and records[0].pair == "Someone eats."


def test_squad_hub_rows_and_bad_answers(tmp_path):
    context = "The Eiffel Tower is in Paris."
    good = {"id": "q1", "title": "Eiffel_Tower", "context": context, "question": "Where is it?",
            "answers": {"text": ["Paris", "in Paris"], "answer_start": [23, 20]}}
    [record] = load_squad("validation", path=_write_jsonl(tmp_path / "squad.jsonl", [good]))
    assert record.answers == (("Paris", 23), ("in Paris", 20)) and record.pair == "Where is it?"
    no_answer = dict(good, answers={"text": [], "answer_start": []})
    with pytest.raises(ValueError, match="no answers"):
        load_squad("validation", path=_write_jsonl(tmp_path / "a.jsonl", [no_answer]))
    misplaced = dict(good, answers={"text": ["Paris"], "answer_start": [3]})
    with pytest.raises(ValueError, match="not at character 3"):
        load_squad("validation", path=_write_jsonl(tmp_path / "b.jsonl", [misplaced]))
