"""Parameter layouts: pytree <-> vector, tokens, chunks, normalization. Pure jax/numpy."""

from paramgen_jax.params.chunks import (layer_chunk_plan, layer_chunk_ranges, from_chunks,
                                        model_wise_length, to_chunks)
from paramgen_jax.params.flat import (flatten_padded, pad_vector, padded_length, padding_mask,
                                      unflatten_padded)
from paramgen_jax.params.layout import LeafSpec, ParamLayout, path_to_str
from paramgen_jax.params.normalize import (LayerStats, TaskStats, denormalize_layers,
                                           denormalize_task, fit_layer_stats, fit_task_stats,
                                           fit_coordinate_stats, normalize_layers, normalize_task)
from paramgen_jax.params.tokens import (TokenLayout, detokenize, make_token_layout, tokenize,
                                        tokens_to_tree, tree_to_tokens)
