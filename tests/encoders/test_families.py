"""Every supported encoder family through the library: extraction, stored states, fine-tuning, restoring.

Each family is a tiny random-init model (2 layers x 32) saved as a local folder with a real fast
tokenizer: MiniLM's WordPiece for the BERT-like ones, and tokenizers trained here on Python's own
documentation for the others (byte-level BPE for RoBERTa, XLM-R and ModernBERT, a SentencePiece-style
unigram for DeBERTa-v3).
"""
import json
import re

import pytest
import torch

from lib.encoders.extraction import extract_layers, tokenize_words
from lib.encoders.families import FAMILIES, MODULES, family_of
from lib.encoders.layers import run_layers
from lib.encoders.loading import load_encoder, minilm_path, model_shape
from lib.encoders.runtime import resolve_runtime
from lib.encoders.weights import weight_change
from lib.experiments.prefix import PrefixStates
from lib.experiments.restoring import restoring
from lib.finetune.config import FinetuneConfig
from lib.finetune.features import collate
from lib.finetune.loop import prepare
from lib.finetune.metrics import evaluate
from lib.finetune.store import FineTuned, get_or_train

SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=128)
SENTENCES = [["the", "interpreter", "raises", "an", "exception"], ["quokkas", "sleep"],
             ["a", "generator", "expression", "yields", "values", "lazily", "when", "iterated", "over"]]
# what freeze_below=1 freezes in each family: the embeddings and the first layer, with what the family
# keeps outside its layers for them (DeBERTa's relative positions and its convolution after layer 1)
FROZEN_AT_1 = {
    "bert": ("embeddings.", "encoder.layer.0."),
    "roberta": ("embeddings.", "encoder.layer.0."),
    "xlm-roberta": ("embeddings.", "encoder.layer.0."),
    "electra": ("embeddings.", "embeddings_project.", "encoder.layer.0."),
    "distilbert": ("embeddings.", "transformer.layer.0."),
    "deberta-v2": ("embeddings.", "encoder.rel_embeddings.", "encoder.LayerNorm.", "encoder.conv.", "encoder.layer.0."),
    "modernbert": ("embeddings.", "layers.0."),
}
TOP_LAYER = {"distilbert": "transformer.layer.1.", "modernbert": "layers.1."}  # default: encoder.layer.1.


def _sentences() -> list[str]:
    """A few hundred sentences of English prose from Python's documentation (in the standard library)."""
    from pydoc_data.topics import topics

    text = re.sub(r"\s+", " ", " ".join(topics[key] for key in sorted(topics)))
    found = [s for s in re.split(r"(?<=[.!?]) ", text) if 30 < len(s) < 200 and re.fullmatch(r"[A-Za-z ,.;:'()-]+", s)]
    return found[:600]


def _byte_level_bpe(sentences, specials):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def _roberta_tokenizer(sentences):
    from transformers import RobertaTokenizerFast

    bpe = _byte_level_bpe(sentences, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
              for m in json.loads(bpe.to_str())["model"]["merges"]]
    return RobertaTokenizerFast(vocab=bpe.get_vocab(), merges=merges)


def _modernbert_tokenizer(sentences):
    """ModernBERT's kind: byte-level BPE without a prefix space, [CLS] a [SEP] b [SEP], no token types."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    bpe = _byte_level_bpe(sentences, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    bpe.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "attention_mask"])


def _deberta_tokenizer(sentences):
    """DeBERTa-v3's kind: a unigram model over Metaspace pieces."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import DebertaV2TokenizerFast

    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.train_from_iterator(sentences, trainers.UnigramTrainer(
        vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], unk_token="[UNK]"))
    vocab = [(piece, score) for piece, score in json.loads(unigram.to_str())["model"]["vocab"]]
    return DebertaV2TokenizerFast(vocab=vocab)


@pytest.fixture(scope="session")
def family_dirs(tiny_bert_dir, tmp_path_factory) -> dict:
    """family -> a local model folder (config.json, model.safetensors, a fast tokenizer)."""
    from transformers import (AutoTokenizer, DebertaV2Config, DebertaV2Model, DistilBertConfig, DistilBertModel,
                              DistilBertTokenizerFast, ElectraConfig, ElectraModel, ElectraTokenizerFast,
                              ModernBertConfig, ModernBertModel, RobertaConfig, RobertaModel, XLMRobertaConfig,
                              XLMRobertaModel)

    sentences = _sentences()
    roberta_tok, modern_tok, deberta_tok = (make(sentences) for make in (_roberta_tokenizer, _modernbert_tokenizer,
                                                                          _deberta_tokenizer))
    minilm = str(minilm_path())
    bpe_ids = dict(vocab_size=len(roberta_tok), pad_token_id=1, bos_token_id=0, eos_token_id=2)
    special = dict(pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2, eos_token_id=3)
    models = {  # family -> (model class, its config, its tokenizer)
        "roberta": (RobertaModel, RobertaConfig(**{**SIZE, "max_position_embeddings": 130}, **bpe_ids), roberta_tok),
        "xlm-roberta": (XLMRobertaModel, XLMRobertaConfig(**{**SIZE, "max_position_embeddings": 130}, **bpe_ids),
                        roberta_tok),
        "electra": (ElectraModel, ElectraConfig(vocab_size=30522, embedding_size=16, **SIZE),  # projected up
                    ElectraTokenizerFast.from_pretrained(minilm)),
        "distilbert": (DistilBertModel, DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                                         max_position_embeddings=128),
                       DistilBertTokenizerFast.from_pretrained(minilm)),
        "deberta-v2": (DebertaV2Model, DebertaV2Config(  # v3's settings, with v2's convolution and a projection
            vocab_size=len(deberta_tok), embedding_size=16, relative_attention=True, position_buckets=8,
            pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0,
            share_att_key=True, conv_kernel_size=3, pad_token_id=0, **SIZE), deberta_tok),
        "modernbert": (ModernBertModel, ModernBertConfig(  # layer 1 global attention, layer 2 a window of 4
            vocab_size=len(modern_tok), local_attention=4, global_attn_every_n_layers=2, **special, **SIZE),
            modern_tok),
    }
    folders = {"bert": tiny_bert_dir}
    for family, (model_class, config, tokenizer) in models.items():
        folder = folders[family] = tmp_path_factory.mktemp(family)
        torch.manual_seed(0)
        model_class(config).save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    assert set(folders) == set(FAMILIES)
    assert all(AutoTokenizer.from_pretrained(f).is_fast for f in folders.values())
    return folders


@pytest.fixture(scope="session")
def squad_files(tmp_path_factory) -> dict:
    """A tiny SQuAD train and validation export (hub row format): questions of several lengths."""
    folder = tmp_path_factory.mktemp("squad")
    context = "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes."
    rows = [{"id": f"q{i}", "title": "Curie", "context": context, "question": question,
             "answers": {"text": [answer], "answer_start": [context.index(answer)]}}
            for i, (question, answer) in enumerate([("Where was she born?", "Warsaw"), ("When?", "1867"),
                                                     ("How many Nobel prizes did she win?", "two")] * 6)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    return {"train": str(folder / "train.jsonl"), "validation": str(folder / "validation.jsonl")}


FAMILY_NAMES = sorted(FAMILIES)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_words_are_tokenized_as_in_running_text(family_dirs, family):
    """Pre-split words get the subwords they have inside a sentence (a byte-level BPE word keeps the
    space before it), every word has at least one, and each word's subwords spell it."""
    tok = load_encoder(str(family_dirs[family])).tokenizer
    for words in SENTENCES:
        ids, word_ids = tokenize_words(tok, words)
        assert ids == tok(" " + " ".join(words))["input_ids"]
        assert sorted({w for w in word_ids if w is not None}) == list(range(len(words)))
        for i, word in enumerate(words):
            assert tok.decode([t for t, w in zip(ids, word_ids) if w == i]).strip() == word
    pieces = [sum(w == i for w in tokenize_words(tok, words)[1]) for words in SENTENCES for i in range(len(words))]
    assert max(pieces) > 1  # some word has several subwords: "first" pooling picks among them


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_extraction_equals_the_models_hidden_states(family_dirs, family):
    """Batched, padded extraction = each sentence run alone, at every layer, for each word's first subword."""
    encoder = load_encoder(str(family_dirs[family]))
    assert family_of(encoder.model).name == family
    reps = extract_layers(encoder, SENTENCES, pooling="first", batch_size=8, progress=False)
    assert reps.vectors.shape == (3, sum(map(len, SENTENCES)), 32)
    expected = []
    for words in SENTENCES:
        enc = encoder.tokenizer(" " + " ".join(words), return_tensors="pt")
        with torch.no_grad():
            hidden = torch.stack(encoder.model(**enc, output_hidden_states=True).hidden_states)[:, 0]
        word_ids = enc.word_ids()
        expected.append(hidden[:, [word_ids.index(i) for i in range(len(words))]])
    torch.testing.assert_close(torch.from_numpy(reps.vectors), torch.cat(expected, dim=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_the_longest_sentence_the_positions_hold(family_dirs, family):
    """Extraction takes a sentence of exactly the model's limit and refuses one token more (RoBERTa's
    positions start after the padding id: 130 position embeddings hold 128 tokens)."""
    encoder = load_encoder(str(family_dirs[family]))
    limit = family_of(encoder.model).max_tokens
    assert limit == 128
    words = ["a"] * (limit - 2)
    assert len(tokenize_words(encoder.tokenizer, words)[0]) == limit
    assert extract_layers(encoder, [words], progress=False).vectors.shape == (3, limit - 2, 32)
    with pytest.raises(ValueError, match="have more than 128 subwords"):
        extract_layers(encoder, [words + ["a"]], progress=False)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_packed_rows_give_each_sentence_its_states_or_are_refused(family_dirs, family):
    """The sentences packed into rows of 16 tokens (each attending to itself only, at its own positions)
    get the padded batch's last hidden states on both attention kernels; a family that cannot pack
    exactly (DeBERTa's masked embeddings and convolution, ModernBERT's sliding windows) is refused,
    and its fine-tunes stay padded."""
    from lib.finetune.packing import pack

    encoder = load_encoder(str(family_dirs[family]))
    pad = encoder.tokenizer.pad_token_id
    features = [{"input_ids": tokenize_words(encoder.tokenizer, words)[0]} for words in SENTENCES * 2]
    batch = collate(features, pad)
    packed = pack(batch, 16, pad)
    runtime = resolve_runtime("cpu", packing="on").with_precision("fp32")
    config = FinetuneConfig(task="nli", model=str(family_dirs[family]))
    if family in ("deberta-v2", "modernbert"):
        with pytest.raises(ValueError, match="do not run packed batches"):
            family_of(encoder.model).run_packed(packed)
        assert not config.packs(runtime) and "packing" not in config.describe(runtime)
        return
    assert config.packs(runtime)
    valid = batch["attention_mask"].bool()
    for kernel in ("eager", "sdpa"):
        model = load_encoder(str(family_dirs[family]), attention=kernel).model
        with torch.no_grad():
            padded = model(**family_of(model).inputs(batch)).last_hidden_state
            unpacked = family_of(model).run_packed(packed)
        torch.testing.assert_close(unpacked[valid], padded[valid], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_layers_run_from_stored_states_as_in_the_model(family_dirs, family):
    """The embedding output, and layers start..stop run on stored states (padding zeroed, as stored), equal
    the model's own hidden states, for every start and stop; padded pairs exercise the masks."""
    encoder = load_encoder(str(family_dirs[family]))
    model, adapter = encoder.model, family_of(encoder.model)
    texts = [" ".join(words) for words in SENTENCES]
    enc = encoder.tokenizer(texts, texts[::-1], padding=True, return_tensors="pt")
    inputs = adapter.inputs(enc)
    assert ("token_type_ids" in inputs) == (family in ("bert", "electra"))
    mask = inputs["attention_mask"]
    assert (mask == 0).any() and mask.shape[1] > 2 * 4  # padding, and longer than ModernBERT's window
    real = mask.bool()
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states
        n = len(hidden) - 1
        assert n == 2
        torch.testing.assert_close(adapter.embed(**inputs)[real], hidden[0][real], rtol=1e-5, atol=1e-5)
        for start in range(n + 1):
            stored = hidden[start] * mask[..., None]
            for stop in range(start, n + 1):
                out = run_layers(model, stored, mask, start, stop)
                torch.testing.assert_close(out[real], hidden[stop][real], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="outside 0..2"):
        run_layers(model, hidden[0], mask, 1, 3)


@pytest.fixture(scope="session")
def finetuned(family_dirs, squad_files, tmp_path_factory):
    """``finetuned(family)``: the family's tiny model fine-tuned on the SQuAD sample with
    ``freeze_below=1`` (fp32, exact), trained once per session through the store."""
    cache, runs = tmp_path_factory.mktemp("store"), {}

    def get(family: str) -> FineTuned:
        if family not in runs:
            config = FinetuneConfig(task="qa", model=str(family_dirs[family]), freeze_below=1, n_train=0, n_dev=0,
                                    n_test=0, steps=15, batch_size=4, learning_rate=1e-2, max_length=64,
                                    precision="fp32")  # a high rate: the top moves enough to score differently
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("BOOK_CACHE_DIR", str(cache))
                runs[family] = get_or_train(config, resolve_runtime("cpu"), progress=False, hub_files=squad_files)
        return runs[family]

    return get


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_qa_features_mark_the_context_for_every_family(family_dirs, squad_files, family):
    """Answers may only lie in the context: found by sequence ids, so families without token types have it
    too; where the tokenizer makes token types it is exactly BERT's type 1."""
    tok = load_encoder(str(family_dirs[family])).tokenizer
    train, _, _ = prepare(FinetuneConfig(task="qa", n_train=0, n_dev=0, n_test=0, max_length=64), tok,
                          hub_files=squad_files).features
    for feature in train:
        tokens = tok.convert_ids_to_tokens(feature["input_ids"])
        context = [t for t, inside in zip(tokens, feature["context"]) if inside]
        assert tok.convert_tokens_to_string(context[:-1]).strip().lower().startswith("marie curie was born")
        assert context[-1] == tok.sep_token and sum(feature["context"]) < len(tokens)
        if "token_type_ids" in feature:
            assert feature["context"] == [t == 1 for t in feature["token_type_ids"]]
    assert ("token_type_ids" in train[0]) == (family in ("bert", "electra", "deberta-v2"))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_finetuning_keeps_the_frozen_bottom(family_dirs, finetuned, family):
    """Fine-tuned with freeze_below=1: the embeddings and layer 1 (with what the family keeps for them)
    are bitwise the pre-trained ones, every weight of layer 2 moved, and weight_change places them."""
    run = finetuned(family)
    assert set(run.metrics) == {"f1", "exact_match"} and run.manifest["sizes"]["train"] == 18
    tuned_model, pre_model = run.load().encoder, load_encoder(str(family_dirs[family])).model
    tuned, pre = dict(tuned_model.named_parameters()), dict(pre_model.named_parameters())
    assert set(pre) == set(tuned)
    frozen = [name for name in pre if name.startswith(FROZEN_AT_1[family])]
    top = [name for name in pre if name.startswith(TOP_LAYER.get(family, "encoder.layer.1."))]
    assert frozen and top and not set(frozen) & set(top)
    assert all(torch.equal(pre[name], tuned[name]) for name in frozen), family
    assert all(not torch.equal(pre[name], tuned[name]) for name in top), family
    change = weight_change(pre_model, tuned_model)
    assert set(change.layer) == {0, 1, 2} and set(change.module) <= set(MODULES)
    assert (change[change.layer <= 1].relative_change == 0).all()
    assert (change[change.layer == 2].relative_change > 0).all()
    assert ("convolution" in set(change.module)) == (family == "deberta-v2")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_stored_prefix_gives_the_models_logits_and_restoring_runs(family_dirs, finetuned, squad_files, family,
                                                                   tmp_path, monkeypatch):
    """The top run from PrefixStates at each k scores what the whole model does; restoring runs on the
    family, and at k = 1 (a bottom the fine-tuning kept frozen) it scores what the whole models do."""
    run = finetuned(family)
    tuned = run.load()
    prepared = prepare(FinetuneConfig(task="qa", n_train=0, n_dev=0, n_test=0, max_length=64), tuned.tokenizer,
                       hub_files=squad_files)
    test, pad_id = prepared.features[2], tuned.tokenizer.pad_token_id
    with torch.no_grad():
        _, whole = tuned(collate(test, pad_id))
        states = PrefixStates(tuned.encoder, (test,), pad_id, batch_size=4)
        for k in range(3):
            _, top = tuned(collate(states.advance(k).features(0), pad_id))
            for key in ("start_logits", "end_logits"):
                torch.testing.assert_close(top[key], whole[key], rtol=1e-5, atol=1e-4)

    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    table = restoring(run, str(family_dirs[family]), 0, resolve_runtime("cpu"), progress=False,
                      prepared=(prepared.data, test))
    value = table.set_index(["experiment", "k", "metric"])["value"]
    assert sorted(table.k.unique()) == [0, 1, 2] and len(table) == 2 * 3 * 2
    assert value["restore_bottom", 0, "f1"] != value["restore_top", 0, "f1"]  # else k = 1 below tells nothing
    assert value["restore_bottom", 1, "f1"] == pytest.approx(value["restore_bottom", 0, "f1"])
    assert value["restore_top", 1, "f1"] == pytest.approx(value["restore_top", 0, "f1"])
    full = evaluate(tuned, test, "qa", pad_id, records=prepared.data.test)
    assert value["restore_bottom", 0, "f1"] == pytest.approx(full["f1"])


def test_what_each_family_keeps_outside_its_layers(family_dirs):
    """ModernBERT's final norm is part of its last layer; DeBERTa's convolution part of its first, its
    relative positions part of the bottom; ELECTRA's projection part of the embeddings; BERT's pooler of none."""
    def family(name):
        model = load_encoder(str(family_dirs[name])).model
        return model, family_of(model)

    model, modern = family("modernbert")
    assert model.final_norm not in modern.bottom(1) and model.final_norm in modern.bottom(2) and modern.bottom(0) == []
    assert modern.locate("final_norm.weight") == (2, "layer norm")
    model, deberta = family("deberta-v2")
    assert all(part in deberta.bottom(1) for part in (model.encoder.conv, model.encoder.rel_embeddings,
                                                       model.encoder.LayerNorm))
    assert deberta.locate("encoder.conv.conv.weight") == (1, "convolution")
    assert deberta.locate("encoder.rel_embeddings.weight") == (0, "embeddings")
    model, electra = family("electra")
    assert model.embeddings_project in electra.bottom(1)
    assert electra.locate("embeddings_project.weight") == (0, "embeddings")
    _, bert = family("bert")
    assert bert.locate("pooler.dense.weight") is None
    assert bert.locate("encoder.layer.1.attention.output.LayerNorm.bias") == (2, "layer norm")
    with pytest.raises(ValueError, match="freeze_below=3 is outside 0..2"):
        bert.bottom(3)
    with pytest.raises(ValueError, match="not part of a bert encoder"):
        bert.locate("transformer.layer.0.ffn.lin1.weight")


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_other_families_are_refused_at_load(tmp_path, kind):
    from transformers import GPT2Config, GPT2Model, T5Config, T5EncoderModel

    model = GPT2Model(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100)) if kind == "gpt2" else \
        T5EncoderModel(T5Config(num_layers=2, d_model=32, d_ff=64, num_heads=2, d_kv=16, vocab_size=100))
    model.save_pretrained(tmp_path, safe_serialization=True)
    supported = f"type '{kind}', not one of the encoder families the book runs: " + ", ".join(FAMILIES)
    for load in (load_encoder, model_shape, lambda name: load_encoder(f"random-init:{name}"),
                 lambda name: FinetuneConfig(task="nli", model=name).check()):
        with pytest.raises(ValueError, match=re.escape(supported)):
            load(str(tmp_path))
