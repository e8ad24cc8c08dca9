"""Deep item vectors: interest means and fusion, with hand-made unit vectors."""
import numpy as np
import pytest

from digr_utils.representation import fuse, interest_vectors

VECTORS = {"a": [1.0, 0.0], "b": [0.0, 1.0]}


def fake_embed(texts):
    return np.array([VECTORS[t] for t in texts], dtype=np.float32)


def test_interest_vectors_average_and_mark_items_without_interests():
    vectors, has = interest_vectors([["a", "b"], [], ["a", " "]], embed_fn=fake_embed)
    s = np.sqrt(0.5)  # mean of (1,0) and (0,1) is (0.5, 0.5), unit length (0.707, 0.707)
    np.testing.assert_allclose(vectors, [[s, s], [0, 0], [1, 0]], atol=1e-6)
    assert list(has) == [True, False, True]


def test_no_interests_at_all_gives_an_empty_part():
    vectors, has = interest_vectors([[], []], embed_fn=fake_embed)
    assert vectors.shape == (2, 0) and not has.any()
    surface = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(fuse(surface, [(vectors, 1.0)]), surface)


def test_fuse_sum_and_concat_by_hand():
    surface = np.array([[1.0, 0.0], [1.0, 0.0]])
    interests = np.array([[0.0, 1.0], [0.0, 0.0]])
    # sum: (1, 0) + 1.0 * (0, 1) = (1, 1) -> (0.707, 0.707); the item without interests keeps (1, 0)
    s = np.sqrt(0.5)
    np.testing.assert_allclose(fuse(surface, [(interests, 1.0)]), [[s, s], [1, 0]], atol=1e-6)
    # concat with weight 0.5: (1, 0, 0, 0.5) / sqrt(1.25)
    np.testing.assert_allclose(fuse(surface, [(interests, 0.5)], mode="concat")[0],
                               np.array([1, 0, 0, 0.5]) / np.sqrt(1.25), atol=1e-6)


def test_fuse_rejects_bad_parts():
    surface = np.eye(2)
    with pytest.raises(ValueError, match="part 0 has 3 rows for 2 items"):
        fuse(surface, [(np.zeros((3, 2)), 1.0)])
    with pytest.raises(ValueError, match="NaN or infinite values in 1 rows"):
        fuse(surface, [(np.array([[np.nan, 0], [0, 1]]), 1.0)])
    with pytest.raises(ValueError, match="width 3 but the surface 2"):
        fuse(surface, [(np.zeros((2, 3)), 1.0)])
    with pytest.raises(ValueError, match="mode='mean'"):
        fuse(surface, [], mode="mean")
