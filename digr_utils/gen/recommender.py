"""A trained generative model as a :class:`~digr_utils.metrics.Recommender`: histories in,
top-K items out by constrained beam search, so it is scored by the same evaluator as every
baseline."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from digr_utils.gen.data import history_tensors
from digr_utils.gen.decode import BeamSettings, CatalogTrie, recommend
from digr_utils.gen.vocab import SidVocab

#: The protocol's smallest beam: ranking needs at least this many distinct candidates.
MIN_BEAMS = 20


class GenerativeRecommender:
    """Ranks items for histories with ``model`` and a trie over ``vocab``'s item IDs.

    ``beams`` (>= 20, the evaluation protocol) is the beam width; a request for more items than
    beams widens it for that call, so a top-K list is always K distinct real items. Users go
    through beam search ``batch_size`` at a time (None: as many as the free memory holds).
    """

    def __init__(self, model, vocab: SidVocab, beams: int = MIN_BEAMS,
                 batch_size: int | None = None,
                 max_history: int = 20, device: str | torch.device | None = None):
        if beams < MIN_BEAMS:
            raise ValueError(f"GenerativeRecommender: beams={beams}; the evaluation protocol "
                             f"ranks with beam search of at least {MIN_BEAMS}")
        self.model, self.vocab = model, vocab
        self.beams, self.batch_size, self.max_history = beams, batch_size, max_history
        self.device = torch.device(device) if device else next(model.parameters()).device
        self.trie = CatalogTrie(vocab.item_tokens(), vocab.vocab_size, self.device)

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(len(histories), k)`` array of item positions, best first (-1 if fewer exist)."""
        input_ids, mask = history_tensors(histories, self.vocab, self.max_history)
        settings = BeamSettings(beams=max(self.beams, k), top_k=k, batch_size=self.batch_size)
        return recommend(self.model, input_ids, mask, self.trie, settings, self.device)
