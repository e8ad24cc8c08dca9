"""The readable beam search agrees with the fast one and shows each step's survivors."""
import numpy as np
import torch

from digr_utils.gen.data import history_tensors
from digr_utils.gen.decode import CatalogTrie, constrained_beam_search
from digr_utils.gen.explain import beam_steps
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.vocab import SidVocab

CODES = np.array([[a, b, 0] for a in range(3) for b in range(4)])


def test_beam_steps_match_the_fast_search():
    vocab = SidVocab.build(CODES, (3, 4, 1))
    model = build_model(ModelConfig(d_model=16, num_layers=1, num_decoder_layers=1, num_heads=2,
                                    d_ff=32, dropout=0.0), vocab, seed=1).eval()
    inputs, mask = history_tensors([np.array([2, 7])], vocab, 20)
    steps = beam_steps(model, vocab, inputs, beams=4)
    assert len(steps) == 3
    # step 1 can keep only the 3 level-1 codes; later steps keep 4 beams
    assert [len(s) for s in steps] == [3, 4, 4]
    assert list(steps[0]["allowed_after_parent"]) == [3, 3, 3]
    assert (steps[1]["allowed_after_parent"] == 4).all() and (steps[2]["allowed_after_parent"] == 1).all()
    items, scores = constrained_beam_search(model, inputs, mask, CatalogTrie(vocab.item_tokens(), vocab.vocab_size),
                                            beams=4, top_k=4)
    assert list(steps[-1]["item"]) == items[0].tolist()
    np.testing.assert_allclose(steps[-1]["log_prob"], scores[0].numpy(), atol=1e-5)
    # log-probabilities only fall as a prefix grows
    assert steps[0]["log_prob"].max() >= steps[1]["log_prob"].max() >= steps[2]["log_prob"].max()
