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

import pandas as pd

from lib.artifacts import artifact_path, cached_json
from lib.encoders.loading import load_encoder, model_identity, model_shape
from lib.encoders.runtime import Runtime
from lib.finetune.features import encode_task
from lib.finetune.heads import TaskModel
from lib.finetune.metrics import evaluate
from lib.finetune.store import FineTuned
from lib.finetune.tasks import TaskData, load_test
from lib.experiments.prefix import PrefixStates


def restoring_identity(tuned: FineTuned, pretrained: str, n_eval: int, runtime: Runtime) -> dict:
    """What :func:`restoring`'s result of ``tuned`` is keyed by."""
    return {"finetuned": tuned.identity, "settings": tuned.trained, "data": tuned.data,
            "pretrained": model_identity(pretrained, tuned.seed), "n_eval": n_eval, "device_type": runtime.device_type}


def restoring_cached(tuned: FineTuned, pretrained: str, n_eval: int, runtime: Runtime) -> bool:
    """Whether :func:`restoring`'s result for ``tuned`` is on disk."""
    return artifact_path("restoring", restoring_identity(tuned, pretrained, n_eval, runtime), ".json").is_file()


def restoring_data(tuned: FineTuned, n_eval: int, tokenizer, data_dir: str | None = None) -> tuple[TaskData, list[dict]]:
    """The restoring experiment's ``n_eval`` test examples of ``tuned``'s task (0: all), and their
    features encoded by ``tokenizer``."""
    config = tuned.config
    data = load_test(tuned.task, n_eval, config.dataset, data_dir)
    return data, encode_task(data.test, tokenizer, data, config.max_length)


def restoring(tuned: FineTuned, pretrained: str, n_eval: int, runtime: Runtime, progress: bool = True,
              prepared: tuple[TaskData, list[dict]] | None = None) -> pd.DataFrame:
    """Scores of a fine-tuned model with the weights of ``pretrained`` back in its bottom or its top.

    One row per (experiment, k, metric) on ``n_eval`` test examples (0: all); cached on disk by
    the content of both models. ``prepared``: :func:`restoring_data`'s result, to share one loading
    between seeds.
    """
    identity = restoring_identity(tuned, pretrained, n_eval, runtime)
    return pd.DataFrame(cached_json("restoring", identity,
                                    lambda: _restoring_rows(tuned, pretrained, n_eval, runtime, progress, prepared)))


def _restoring_rows(tuned: FineTuned, pretrained: str, n_eval: int, runtime: Runtime, progress: bool,
                    prepared: tuple[TaskData, list[dict]] | None) -> list[dict]:
    task, device = tuned.task, runtime.device
    n_layers, _ = model_shape(pretrained)
    model = tuned.load(device)
    pre = load_encoder(pretrained, device=device, seed=tuned.seed, attention=tuned.attention)
    data, test = prepared or restoring_data(tuned, n_eval, model.tokenizer, runtime.data_dir)
    pad_id, precision = model.tokenizer.pad_token_id, tuned.config.precision
    pre_with_head = TaskModel(pre.model, model.head).eval()

    def score(scored: TaskModel, features: list[dict]) -> dict[str, float]:
        return evaluate(scored, features, task, pad_id, records=data.test, precision=precision)

    rows = []
    pre_states = PrefixStates(pre.model, (test,), pad_id, device, precision, progress=progress)
    tuned_states = PrefixStates(model.encoder, (test,), pad_id, device, precision, progress=progress)
    ends = {"tuned": score(model, test), "pre": score(pre_with_head, test)}
    for k in range(n_layers + 1):
        if 0 < k < n_layers:
            pre_states.advance(k)
            tuned_states.advance(k)
            bottom = score(model, pre_states.features(0))  # pre-trained bottom, fine-tuned top
            top = score(pre_with_head, tuned_states.features(0))  # fine-tuned bottom, pre-trained top
        else:
            bottom, top = (ends["tuned"], ends["pre"]) if k == 0 else (ends["pre"], ends["tuned"])
        for experiment, metrics in (("restore_bottom", bottom), ("restore_top", top)):
            rows += [{"experiment": experiment, "k": k, "metric": name, "value": value}
                     for name, value in metrics.items()]
    return rows
