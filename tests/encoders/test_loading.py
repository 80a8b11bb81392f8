"""Loading encoders by alias, path and as random-init controls."""
import pytest
import torch

from lib.encoders.loading import load_encoder, pick_device, resolve_model


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


def test_devices():
    assert pick_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")
    assert resolve_model("bert-base") == "bert-base-uncased"
