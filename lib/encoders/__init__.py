"""Pipeline stage 2, encoders: pre-trained models, how they run, and word vectors from every layer.

Loading by alias, path or hub id (and knowing a model by content), the encoder families it runs
(one adapter per family: embeddings, layers, token types, parameter names), the runtime, extraction
and its cache, the geometry of a layer, and how far fine-tuning moved the weights.
"""
from lib.encoders.cache import cached_layers
from lib.encoders.extraction import Reps, extract_layers
from lib.encoders.families import FAMILIES, family_of
from lib.encoders.geometry import describe_layers
from lib.encoders.layers import freeze_layers, run_layers
from lib.encoders.loading import Encoder, load_encoder, model_identity, model_shape
from lib.encoders.runtime import Runtime, resolve_runtime
from lib.encoders.weights import relative_change, weight_change

__all__ = ["Encoder", "FAMILIES", "Reps", "Runtime", "cached_layers", "describe_layers", "extract_layers",
           "family_of", "freeze_layers", "load_encoder", "model_identity", "model_shape",
           "relative_change", "resolve_runtime", "run_layers", "weight_change"]
