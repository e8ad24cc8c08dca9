"""The generative model behind the shared evaluator: distinct real items, protocol beam width."""
import numpy as np
import pytest
import torch

from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.recommender import GenerativeRecommender
from digr_utils.gen.vocab import SidVocab

# 12 items, SIDs of 2 codes (3 x 4) + a suffix of 1
CODES = np.array([[a, b, 0] for a in range(3) for b in range(4)])


def _recommender(beams=20):
    torch.manual_seed(0)
    vocab = SidVocab.build(CODES, (3, 4, 1))
    model = build_model(ModelConfig(d_model=16, num_layers=1, num_decoder_layers=1, num_heads=2,
                                    d_ff=32, dropout=0.0), vocab, seed=0).eval()
    return GenerativeRecommender(model, vocab, beams=beams, device="cpu")


def test_lists_hold_distinct_real_items_and_pad_beyond_the_catalogue():
    rec = _recommender()
    top = rec.recommend([np.array([0, 5]), np.array([], dtype=int), np.array([11])], k=10)
    assert top.shape == (3, 10)
    for row in top:
        assert len(set(row)) == 10 and set(row) <= set(range(12))
    # k above the beam width widens the beam: all 12 items, then -1 for the 13th slot
    wide = rec.recommend([np.array([3])], k=13)
    assert sorted(wide[0][:12]) == list(range(12)) and wide[0][12] == -1


def test_beams_below_the_protocol_are_refused():
    with pytest.raises(ValueError, match="beam search of at least 20"):
        _recommender(beams=5)
