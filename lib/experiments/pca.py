"""A 2-D view of one layer's word vectors: principal component analysis (scikit-learn's ``PCA``) of
the pre-trained model beside a fine-tuned one, each word with its gold part of speech.

Each model's layer gets its own PCA, fitted on every word of the text (the two spaces differ, so
their axes are not shared); a fixed sample of ``n_words`` of those words, drawn with ``seed``, is
shown. A picture, not a measure: two components keep a small share of a layer's variance (the
``variance`` column says how much), and the chapters' measures (probes, RSA, CKA) use every dimension.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from lib.data import Record
from lib.encoders.extraction import Reps
from lib.encoders.runtime import Runtime
from lib.errors import InputError
from lib.experiments.inputs import Similarity, similarity_sentences
from lib.finetune.config import Finetuning
from lib.finetune.store import get_or_train
from lib.finetune.vectors import Pretrained


def pca_table(reps: Mapping[str, Reps], records: list[Record], layer: int = -1, n_words: int = 300,
              seed: int = 0) -> pd.DataFrame:
    """The first two principal components of layer ``layer`` (an index into ``Reps.layers``: -1 is
    the last) of each model in ``reps`` (name: word vectors of ``records``), for ``n_words`` words
    drawn with ``seed``. Columns ``model, layer, word, upos, pc1, pc2, variance`` (the share of the
    layer's variance the two components explain); the same words, in the same order, per model."""
    if not reps:
        raise InputError("pca_table needs at least one model's word vectors")
    first = next(iter(reps.values()))
    for name, r in reps.items():
        if not (np.array_equal(r.sentence, first.sentence) and np.array_equal(r.position, first.position)):
            raise InputError(f"the word vectors of {name!r} are of other words than those of the first model")
    if first.n_words < 3:
        raise InputError(f"a PCA view needs at least 3 words, got {first.n_words}")
    index = np.sort(np.random.default_rng(seed).choice(first.n_words, min(n_words, first.n_words), replace=False))
    words = [(records[s].words[p], records[s].upos[p] if records[s].upos else "")
             for s, p in zip(first.sentence[index], first.position[index])]
    from sklearn.decomposition import PCA  # here, not at the top: most processes never draw this view

    frames = []
    for name, r in reps.items():
        vectors = r.vectors[layer].astype(np.float64)
        pca = PCA(n_components=2, svd_solver="full").fit(vectors)
        points = pca.transform(vectors[index])
        frames.append(pd.DataFrame({"model": name, "layer": r.layers[layer], "word": [w for w, _ in words],
                                    "upos": [u for _, u in words], "pc1": points[:, 0], "pc2": points[:, 1],
                                    "variance": float(pca.explained_variance_ratio_.sum())}))
    return pd.concat(frames, ignore_index=True)


def pos_pca(finetuning: Finetuning, similarity: Similarity, runtime: Runtime, task: str = "parsing",
            layer: int = -1, n_words: int = 300) -> pd.DataFrame:
    """:func:`pca_table` of the EWT test sentences (the probes' held-out text, gold UPOS) under the
    pre-trained model and the model fine-tuned on ``task`` with the first of ``finetuning.seeds``
    (from the store, trained there when missing); the sample is drawn with ``similarity.seed``."""
    records = similarity_sentences("parsing", "own", similarity.n_sentences, runtime.data_dir)
    seed = finetuning.seeds[0]
    tuned = get_or_train(finetuning.config(task, seed), runtime, progress=False)
    reps = {"pre-trained": Pretrained(finetuning.model).layers(records, runtime, pooling=similarity.pooling, progress=False),
            f"fine-tuned: {task}, seed {seed}": tuned.layers(records, runtime, pooling=similarity.pooling, progress=False)}
    return pca_table(reps, records, layer, n_words, similarity.seed)
