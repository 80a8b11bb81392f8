"""Loading encoders by alias, path and as random-init controls."""
import pytest
import torch

from lib.encoders.loading import load_encoder, resolve_model


def test_minilm_is_the_packaged_pretrained_model(minilm):
    assert (minilm.n_layers, minilm.hidden_size) == (6, 384)
    assert not minilm.model.training
    ids = minilm.tokenizer("the cat sat", return_tensors="pt")
    with torch.no_grad():
        out = minilm.model(**ids, output_hidden_states=True)
    assert len(out.hidden_states) == 7


def test_random_init_has_the_same_shape_and_other_weights(minilm):
    control = load_encoder("random-init", seed=0)
    again = load_encoder("random-init", seed=0)
    assert (control.n_layers, control.hidden_size) == (6, 384)
    name = "encoder.layer.0.attention.self.query.weight"
    weights = dict(control.model.named_parameters())[name]
    assert torch.equal(weights, dict(again.model.named_parameters())[name])  # seeded
    assert not torch.allclose(weights, dict(minilm.model.named_parameters())[name])


def test_local_folder_and_random_init_of_it(tiny_bert_dir):
    tiny = load_encoder(str(tiny_bert_dir))
    assert (tiny.n_layers, tiny.hidden_size) == (2, 32)
    assert load_encoder(f"random-init:{tiny_bert_dir}").hidden_size == 32


def test_folder_without_safetensors_is_refused(tiny_bert_dir, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for item in tiny_bert_dir.iterdir():
        if item.suffix != ".safetensors":
            (folder / item.name).write_bytes(item.read_bytes())
    with pytest.raises(OSError, match="could not load model"):
        load_encoder(str(folder))


@pytest.mark.parametrize("name", ["minlm", "bert_base", "random-init:nonsense"])
def test_unknown_model_lists_the_aliases(name):
    with pytest.raises(ValueError, match="use an alias \\(minilm, bert-base, random-init\\)"):
        load_encoder(name)


def test_aliases_resolve_to_hub_ids():  # devices: tests/encoders/test_runtime.py (resolve_runtime)
    assert resolve_model("bert-base") == "bert-base-uncased"


def test_random_init_bert_base_needs_no_hub(monkeypatch):
    """bert-base's shape with random weights, offline: the paper's control and the plan's timing model."""
    from transformers import utils

    from lib.encoders.loading import model_identity, model_shape

    monkeypatch.setattr(utils, "cached_file", lambda *a, **k: pytest.fail("no hub lookup for a built-in shape"))
    encoder = load_encoder("random-init:bert-base", seed=1)
    config = encoder.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
            config.vocab_size) == (12, 768, 12, 3072, 30522)
    assert sum(p.numel() for p in encoder.model.parameters()) == 109_482_240  # BERT-base's 110M
    assert model_shape("random-init:bert-base") == (12, 768)
    assert model_identity("random-init:bert-base", 1) == model_identity("random-init:bert-base", 1)
    assert model_identity("random-init:bert-base", 1) != model_identity("random-init:bert-base", 2)
    ids = encoder.tokenizer("The cat sat.")["input_ids"]
    assert encoder.model(input_ids=torch.tensor([ids])).last_hidden_state.shape == (1, len(ids), 768)
