"""IEID: semantic IDs for items, from an RQ-VAE (or residual k-means) over item embeddings.

``train_rqvae`` turns embeddings into codes, ``SemanticIds.from_codes`` makes them unique and
tokenises them, ``PrefixTrie`` lists valid continuations, and ``diagnostics`` says how good the
codes are (codebook use, collisions, what items sharing a code have in common).
"""
from digr_utils.sid.diagnostics import (
    codebook_usage,
    collision_histogram,
    reconstruction_error,
    shared_code_purity,
)
from digr_utils.sid.ids import PrefixTrie, SemanticIds, assign_suffix
from digr_utils.sid.kmeans import residual_kmeans
from digr_utils.sid.rqvae import RQVAE, RQVAEConfig, train_rqvae

__all__ = [
    "RQVAE",
    "PrefixTrie",
    "RQVAEConfig",
    "SemanticIds",
    "assign_suffix",
    "codebook_usage",
    "collision_histogram",
    "reconstruction_error",
    "residual_kmeans",
    "shared_code_purity",
    "train_rqvae",
]
