"""Text encoders, nearest neighbours and neighbour agreement, on texts made in the test."""
import numpy as np
import pytest

from digr_utils import embed
from digr_utils.embed import TFIDF_DIM, encode, nearest_neighbors, neighbor_agreement


# --- TF-IDF ---------------------------------------------------------------------------------

def test_tfidf_small_vocabulary_by_hand():
    # "red shoe" twice and "blue hat": identical texts have cosine 1, no shared word cosine 0.
    v = encode(["red shoe", "red shoe", "blue hat"], model="tfidf")
    assert v.shape == (3, TFIDF_DIM) and v.dtype == np.float32
    sims = v @ v.T
    assert sims[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert sims[0, 2] == pytest.approx(0.0, abs=1e-6)


def test_tfidf_reduced_is_deterministic_and_normalised():
    # 300 texts of 3 distinct words each: a vocabulary far above TFIDF_DIM, so SVD reduces it.
    texts = [f"w{i} w{(i * 7) % 300} w{(i * 13) % 300}" for i in range(300)]
    a, b = encode(texts, model="tfidf"), encode(texts, model="tfidf")
    assert a.shape == (300, TFIDF_DIM)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


# --- neighbours -----------------------------------------------------------------------------

def test_nearest_neighbors_pairs_and_self():
    vecs = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    idx, scores = nearest_neighbors(vecs, k=1)
    assert idx.tolist() == [[1], [0], [3], [2]]
    cos = 0.9 / np.hypot(0.9, 0.1)  # cosine of [1, 0] and [0.9, 0.1]
    np.testing.assert_allclose(scores[:, 0], [cos, cos, cos, cos], rtol=1e-5)
    idx, scores = nearest_neighbors(vecs, k=2, exclude_self=False)
    assert idx[:, 0].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-6)


def test_nearest_neighbors_excludes_self_among_duplicates():
    idx, _ = nearest_neighbors(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), k=1)
    assert idx[:2, 0].tolist() == [1, 0]
    assert idx.shape == (3, 1)


def test_nearest_neighbors_k_too_large():
    with pytest.raises(ValueError, match="at most 2"):
        nearest_neighbors(np.eye(3), k=3)


def test_neighbor_agreement_int_labels():
    nbrs = np.array([[1, 2], [0, 2], [0, 1]])
    # item 0: 1 of 2 agree; item 1: 1 of 2; item 2 (label 1): 0 of 2 -> mean (0.5 + 0.5 + 0) / 3
    assert neighbor_agreement(nbrs, np.array([0, 0, 1])) == pytest.approx(1 / 3)


def test_neighbor_agreement_set_labels():
    nbrs = np.array([[1, 2], [0, 2], [0, 1]])
    # {1} vs {1,2} yes, {2} no -> 0.5; {1,2} meets both -> 1; {2} vs {1} no, {1,2} yes -> 0.5
    assert neighbor_agreement(nbrs, [{1}, {1, 2}, {2}]) == pytest.approx(2 / 3)


def test_neighbor_agreement_shape_mismatch():
    with pytest.raises(ValueError, match="one row per label"):
        neighbor_agreement(np.array([[1], [0]]), [0, 1, 2])


# --- MiniLM ---------------------------------------------------------------------------------

def test_minilm_similar_closer_than_unrelated():
    v = encode([
        "running shoes for a first marathon",
        "lightweight trainers for long-distance running",
        "cast iron frying pan",
    ])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_minilm_cache_encodes_only_new_texts(tmp_path, monkeypatch):
    first = encode(["yoga mat", "camping tent"], cache_dir=tmp_path)
    model = embed._load_model("minilm", embed.pick_device())
    seen = []
    real_encode = model.encode

    def spy(texts, **kwargs):
        seen.append(list(texts))
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(model, "encode", spy)
    texts = ["camping tent", "baby blanket", "yoga mat", "baby blanket"]
    second = encode(texts, cache_dir=tmp_path)
    assert seen == [["baby blanket"]]  # cached texts skipped, the repeat encoded once
    np.testing.assert_array_equal(second[[2, 0]], first)
    np.testing.assert_array_equal(second[1], second[3])
    third = encode(["baby blanket", "yoga mat"], cache_dir=tmp_path)
    assert seen == [["baby blanket"]]
    np.testing.assert_array_equal(third, second[[1, 2]])
    assert len(list(tmp_path.glob("*.npz"))) == 1 and not list(tmp_path.glob("*.tmp"))


def test_corrupt_cache_names_the_file(tmp_path):
    encode(["yoga mat"], cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("*.npz")
    cache_file.write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match="delete this file"):
        encode(["yoga mat"], cache_dir=tmp_path)


# --- errors ---------------------------------------------------------------------------------

def test_empty_texts():
    with pytest.raises(ValueError, match="empty"):
        encode([], model="tfidf")


def test_non_string_text_names_its_index():
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        encode(["ok", None], model="tfidf")


def test_missing_model_folder_suggests_alternatives(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*minilm.*tfidf"):
        encode(["x"], model=str(tmp_path / "no-such-model"))
