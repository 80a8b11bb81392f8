"""Layer restoring (beyond the paper): pre-trained weights put back into part of a fine-tuned model.

A boundary ``k`` splits an encoder as ``freeze_below`` does: the *bottom* is the embeddings and
layers 1..k, the *top* everything else.

- **Restoring the bottom**: the pre-trained bottom under the fine-tuned top and head. The same
  architecture as freezing at ``k``, but the top was trained on a different bottom.
- **Restoring the top**: the fine-tuned bottom under the pre-trained top, with the fine-tuned head.

No model is retrained: each is scored from :class:`lib.experiments.prefix.PrefixStates` of the
pre-trained and the fine-tuned encoder, so each layer is computed once per model.
"""
from __future__ import annotations

import json

import pandas as pd

from lib.artifacts import artifact_path, atomic_path
from lib.encoders.loading import load_encoder, model_identity, model_shape, pick_device
from lib.finetune import layers
from lib.finetune.config import FinetuneConfig
from lib.finetune.heads import TaskModel
from lib.finetune.loop import prepare
from lib.finetune.metrics import evaluate
from lib.finetune.store import load_finetuned
from lib.experiments.prefix import PrefixStates


def _path(manifest: dict, pretrained: str, n_eval: int, device: str):
    identity = {"finetuned": layers.model_identity(manifest), "settings": manifest["identity"]["settings"],
                "data": manifest["identity"]["data"], "pretrained": model_identity(pretrained, manifest["seed"]),
                "n_eval": n_eval, "device_type": pick_device(device).split(":")[0]}
    return artifact_path("restoring", identity, ".json")


def restoring_cached(manifest: dict, pretrained: str, n_eval: int, device: str = "auto") -> bool:
    """Whether :func:`restoring`'s result for ``manifest`` is on disk."""
    return _path(manifest, pretrained, n_eval, device).is_file()


def restoring_data(manifest: dict, n_eval: int, tokenizer, data_dir: str | None = None) -> tuple:
    """The restoring experiment's ``n_eval`` test examples of ``manifest``'s task, encoded
    (as :func:`lib.finetune.loop.prepare`)."""
    config = manifest["config"]
    return prepare(FinetuneConfig(task=manifest["task"], n_train=1, n_dev=1, n_test=n_eval, dataset=config["dataset"],
                                  max_length=config["max_length"]), tokenizer, data_dir)


def restoring(manifest: dict, pretrained: str, n_eval: int, data_dir: str | None = None, device: str = "auto",
              progress: bool = True, prepared: tuple | None = None) -> pd.DataFrame:
    """Scores of a fine-tuned model with the weights of ``pretrained`` back in its bottom or its top.

    One row per (experiment, k, metric) on ``n_eval`` test examples (0: all); cached on disk by
    the content of both models. ``prepared``: :func:`restoring_data`'s result, to share one loading
    between seeds.
    """
    task = manifest["task"]
    n_layers, _ = model_shape(pretrained)
    path = _path(manifest, pretrained, n_eval, device)
    if path.is_file():
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    device = pick_device(device)
    tuned = load_finetuned(manifest, device=device)
    pre = load_encoder(pretrained, device=device, seed=manifest["seed"], attention=manifest["config"]["attention"])
    config = manifest["config"]
    data, (_, _, test) = prepared or restoring_data(manifest, n_eval, tuned.tokenizer, data_dir)
    pad_id, precision = tuned.tokenizer.pad_token_id, config["precision"]
    pre_with_head = TaskModel(pre.model, tuned.head).eval()

    def score(model: TaskModel, features: list[dict]) -> dict[str, float]:
        return evaluate(model, features, task, pad_id, records=data.test, precision=precision)

    rows = []
    pre_states = PrefixStates(pre.model, (test,), pad_id, device, precision, progress=progress)
    tuned_states = PrefixStates(tuned.encoder, (test,), pad_id, device, precision, progress=progress)
    ends = {"tuned": score(tuned, test), "pre": score(pre_with_head, test)}
    for k in range(n_layers + 1):
        if 0 < k < n_layers:
            pre_states.advance(k)
            tuned_states.advance(k)
            bottom = score(tuned, pre_states.features(0))  # pre-trained bottom, fine-tuned top
            top = score(pre_with_head, tuned_states.features(0))  # fine-tuned bottom, pre-trained top
        else:
            bottom, top = (ends["tuned"], ends["pre"]) if k == 0 else (ends["pre"], ends["tuned"])
        for experiment, metrics in (("restore_bottom", bottom), ("restore_top", top)):
            rows += [{"experiment": experiment, "k": k, "metric": name, "value": value}
                     for name, value in metrics.items()]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rows), encoding="utf-8")
    return pd.DataFrame(rows)
