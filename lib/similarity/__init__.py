"""Pipeline stage 4, similarity: RSA and CKA between two models' layers, with seed floors.

Measures on arrays alone (no other stage is imported), so chapter 1's geometry uses them too.
"""
from lib.similarity.compare import (closest_layers, linear_cka, matrix_table, same_layer, sample_tokens, similarity_matrix,
                                    versus_pretrained)

__all__ = ["closest_layers", "linear_cka", "matrix_table", "same_layer", "sample_tokens", "similarity_matrix", "versus_pretrained"]
