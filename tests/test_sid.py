"""Semantic IDs: suffixes, tokens, trie and diagnostics by hand; k-means and RQ-VAE on tiny data."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from digr_utils.io import ArtifactError
from digr_utils.sid import (
    RQVAE,
    PrefixTrie,
    RQVAEConfig,
    SemanticIds,
    assign_suffix,
    codebook_usage,
    collision_histogram,
    reconstruction_error,
    residual_kmeans,
    shared_code_purity,
    train_rqvae,
)

# items 0, 1 and 3 share the codes (1, 2); item 2 is alone
CODES = np.array([[1, 2], [1, 2], [3, 4], [1, 2]])


def test_assign_suffix_counts_up_within_each_group_in_item_order():
    np.testing.assert_array_equal(assign_suffix(CODES)[:, -1], [0, 1, 0, 2])
    np.testing.assert_array_equal(assign_suffix(CODES)[:, :2], CODES)


def test_semantic_ids_tokens_labels_and_lookup():
    ids = SemanticIds.from_codes(CODES, ["i0", "i1", "i2", "i3"], codebook_size=5)
    # two levels of 5 codes, then the suffix: 0..2, so 3 values
    assert ids.sizes == (5, 5, 3) and ids.vocab_size == 13
    # position starts 10, 10+5, 10+10: item 3 = (1, 2, 2) -> (11, 17, 22)
    np.testing.assert_array_equal(ids.token_ids(offset=10)[3], [11, 17, 22])
    np.testing.assert_array_equal(ids.token_ids()[2], [3, 9, 10])
    assert ids.sid(3) == (1, 2, 2)
    assert ids.label(3) == "<a_1><b_2><c_2>"
    assert ids.item_of((1, 2, 1)) == 1 and ids.item_of((1, 2, 3)) is None
    # items 0, 1, 3 share (1, 2) with another item; item 2 does not -> 3/4
    assert ids.collision_rate() == 0.75


def test_semantic_ids_save_load_round_trip(tmp_path):
    ids = SemanticIds.from_codes(CODES, ["i0", "i1", "i2", "i3"], codebook_size=5)
    ids.save(tmp_path / "sids.npz")
    back = SemanticIds.load(tmp_path / "sids.npz")
    np.testing.assert_array_equal(back.codes, ids.codes)
    assert list(back.item_ids) == ["i0", "i1", "i2", "i3"] and back.sizes == ids.sizes


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def test_semantic_ids_load_names_a_truncated_file(tmp_path):
    path = tmp_path / "sids.npz"
    SemanticIds.from_codes(CODES, ["i0", "i1", "i2", "i3"], codebook_size=5).save(path)
    _truncate(path)
    with pytest.raises(ArtifactError, match=r"sids\.npz cannot be read.*truncated; delete it and "
                                            r"write it with SemanticIds\.save"):
        SemanticIds.load(path)


def test_semantic_ids_reject_bad_codes():
    with pytest.raises(ValueError, match="below its size"):
        SemanticIds.from_codes(CODES, ["a", "b", "c", "d"], codebook_size=4)  # code 4 of 4
    with pytest.raises(ValueError, match="same codes"):
        SemanticIds(CODES, ["a", "b", "c", "d"], sizes=(5, 5))
    with pytest.raises(ValueError, match="item_ids"):
        SemanticIds.from_codes(CODES, ["a"], codebook_size=5)


def test_prefix_trie_lists_what_may_follow():
    trie = PrefixTrie(assign_suffix(CODES))  # rows (1,2,0) (1,2,1) (3,4,0) (1,2,2)
    assert trie.depth == 3
    np.testing.assert_array_equal(trie.allowed(()), [1, 3])
    np.testing.assert_array_equal(trie.allowed((1,)), [2])
    np.testing.assert_array_equal(trie.allowed((1, 2)), [0, 1, 2])
    assert len(trie.allowed((1, 2, 0))) == 0 and len(trie.allowed((2,))) == 0
    assert (3, 4) in trie and (3, 4, 0) in trie and (3, 2) not in trie
    np.testing.assert_array_equal(trie.items_with_prefix((1, 2)), [0, 1, 3])
    np.testing.assert_array_equal(trie.items_with_prefix(()), [0, 1, 2, 3])


def test_codebook_usage_by_hand():
    usage = codebook_usage(np.array([[0], [0], [1], [1]]), codebook_size=4)
    # two codes of four used, half the items each: entropy ln 2, perplexity 2
    assert usage.loc[1, "used"] == 0.5
    assert usage.loc[1, "perplexity"] == pytest.approx(2.0)
    assert usage.loc[1, "max_bucket"] == 2
    with pytest.raises(ValueError, match="codes reach 1 but codebook_size=1"):
        codebook_usage(np.array([[0], [1]]), codebook_size=1)


def test_collision_histogram_by_hand():
    # one group of 3 items (1,2) and one of 1 item (3,4)
    assert collision_histogram(CODES).to_dict() == {1: 1, 3: 3}


def test_shared_code_purity_by_hand():
    codes = np.array([[0, 5], [0, 6], [0, 7], [1, 5], [1, 5]])
    motives = [{"a"}, {"a", "b"}, {"b"}, {"c"}, {"c"}]
    types = ["mug", "mug", "pan", "pan", "mug"]
    out = shared_code_purity(codes, motives, types, depth=1)
    # code 0 holds items 0,1,2: pairs 01 (share a), 02 (no), 12 (share b); code 1: pair 34 (c)
    assert out["pairs"] == 4 and out["share"] == 0.75
    # all 10 pairs: only 01, 12 and 34 share a motive
    assert out["floor"] == pytest.approx(0.3)
    # types on the same 4 pairs: 01 mug-mug yes, 02 no, 12 no, 34 pan-mug no
    assert out["share_b"] == 0.25
    # all pairs: mug 0,1,4 -> 3 pairs, pan 2,3 -> 1 pair, of 10
    assert out["floor_b"] == pytest.approx(0.4)
    # depth 2: only items 3 and 4 share (1, 5), and they share motive c
    assert shared_code_purity(codes, motives, depth=2) == {"pairs": 1, "share": 1.0,
                                                           "floor": pytest.approx(0.3)}
    with pytest.raises(ValueError, match="depth=3"):
        shared_code_purity(codes, motives, depth=3)


def _clusters(seed=0, per=10):
    """Four tight 2-D clusters at the corners of a 10 x 10 square."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    return (np.repeat(centres, per, axis=0) + rng.normal(0, 0.1, (4 * per, 2))).astype(np.float32)


def test_residual_kmeans_recovers_clusters_at_level_1():
    x = _clusters()
    codes, centroids = residual_kmeans(x, levels=2, codebook_size=4, seed=0)
    assert codes.shape == (40, 2) and codes.dtype == np.int64 and len(centroids) == 2
    level1 = codes[:, 0].reshape(4, 10)
    # one code per cluster, four different codes
    assert (level1 == level1[:, :1]).all() and len(set(level1[:, 0])) == 4
    np.testing.assert_allclose(np.sort(centroids[0], axis=0),
                               [[0, 0], [0, 0], [10, 10], [10, 10]], atol=0.2)


def test_residual_kmeans_rejects_bad_input():
    x = _clusters()
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match="1 embedding row.*first is row 5"):
        residual_kmeans(x, 2, 4)
    with pytest.raises(ValueError, match="40 items are fewer than codebook_size=64"):
        residual_kmeans(_clusters(), 2, 64)


def test_for_items_scales_the_codebook():
    # smallest power of two >= n^(2/3): 225^(2/3) = 37.0 -> 64, 827^(2/3) = 88.1 -> 128
    assert RQVAEConfig.for_items(384, 225).codebook_size == 64
    assert RQVAEConfig.for_items(384, 827).codebook_size == 128
    assert RQVAEConfig.for_items(384, 827, full=True).codebook_size == 256
    assert RQVAEConfig.for_items(8, 3).codebook_size == 3  # 3^(2/3) -> 4, capped at n
    assert RQVAEConfig.for_items(8, 900, levels=4).levels == 4


# --- RQ-VAE on 64 points: 2 levels x 4 codes ------------------------------------------------

def _data():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (4, 8))
    return (np.repeat(centres, 16, axis=0) + rng.normal(0, 0.2, (64, 8))).astype(np.float32)


CFG = RQVAEConfig(in_dim=8, latent_dim=4, hidden=(16,), levels=2, codebook_size=4, epochs=6,
                  batch_size=16, lr=3e-3, dead_code_every=10, seed=0)


def test_rqvae_trains_with_right_shapes_and_falling_loss():
    x = _data()
    model, history = train_rqvae(x, CFG, device="cpu", progress=False)
    recon, codes, losses = model(torch.from_numpy(x))
    assert recon.shape == (64, 8) and codes.shape == (64, 2) and codes.dtype == torch.long
    assert set(losses) == {"recon", "commit", "total"}
    assert list(history.columns) == ["epoch", "recon", "commit", "total", "used_l1", "used_l2",
                                     "restarted", "seconds"]
    assert list(history["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert history["total"].iloc[-1] < history["total"].iloc[0]
    assert torch.equal(model.encode_codes(x), codes)


def test_rqvae_is_reproducible_on_cpu():
    x = _data()
    a, ha = train_rqvae(x, CFG, device="cpu", progress=False)
    b, hb = train_rqvae(x, CFG, device="cpu", progress=False)
    assert ha["total"].tolist() == hb["total"].tolist()
    assert torch.equal(a.encode_codes(x), b.encode_codes(x))


def test_rqvae_save_load_round_trip_and_config_mismatch(tmp_path):
    x = _data()
    model, _ = train_rqvae(x, CFG, device="cpu", progress=False)
    model.save(tmp_path / "m.pt")
    back = RQVAE.load(tmp_path / "m.pt", device="cpu", config=CFG)
    assert torch.equal(back.encode_codes(x), model.encode_codes(x))
    with pytest.raises(ValueError, match="levels=2 but the requested config has levels=3"):
        RQVAE.load(tmp_path / "m.pt", device="cpu", config=replace(CFG, levels=3))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        RQVAE.load(tmp_path / "missing.pt", device="cpu")


def test_rqvae_load_names_a_truncated_file(tmp_path):
    path = tmp_path / "m.pt"
    RQVAE(CFG).save(path)
    _truncate(path)
    with pytest.raises(ArtifactError, match=r"m\.pt: cannot be read.*truncated; train one with "
                                            r"train_rqvae or RQVAE\.save"):
        RQVAE.load(path, device="cpu")


def test_rqvae_resume_continues_the_epoch_count(tmp_path):
    x = _data()
    ckpt = tmp_path / "run.pt"
    train_rqvae(x, replace(CFG, epochs=3), device="cpu", progress=False, checkpoint=ckpt)
    resumed, history = train_rqvae(x, CFG, device="cpu", progress=False, checkpoint=ckpt)
    assert list(history["epoch"]) == [1, 2, 3, 4, 5, 6]
    # the RNG state travels with the checkpoint, so 3 + 3 epochs equal 6 in one go
    straight, whole = train_rqvae(x, CFG, device="cpu", progress=False)
    np.testing.assert_allclose(history["total"], whole["total"], rtol=1e-5)
    assert torch.equal(resumed.encode_codes(x), straight.encode_codes(x))
    with pytest.raises(ValueError, match="already trained 6 epochs, more than epochs=3"):
        train_rqvae(x, replace(CFG, epochs=3), device="cpu", progress=False, checkpoint=ckpt)
    with pytest.raises(ValueError, match="beta=0.25 but the requested config has beta=0.5"):
        train_rqvae(x, replace(CFG, beta=0.5), device="cpu", progress=False, checkpoint=ckpt)


def test_rqvae_restarts_dead_codes(tmp_path):
    x = _data()
    ckpt = tmp_path / "run.pt"
    cfg = replace(CFG, epochs=4, dead_code_every=3)
    train_rqvae(x, replace(cfg, epochs=2), device="cpu", progress=False, checkpoint=ckpt)
    saved = torch.load(ckpt, weights_only=True)
    saved["state"]["codebooks"][0, 0] = 1e3  # far from every latent: nobody picks it
    torch.save(saved, ckpt)
    model, history = train_rqvae(x, cfg, device="cpu", progress=False, checkpoint=ckpt)
    # epoch 3 ends with level-1 code 0 unused, so it moves onto a latent and items pick it again
    assert history.loc[2, "used_l1"] == 0.75 and history.loc[2, "restarted"] >= 1
    assert model.codebooks[0, 0].abs().max() < 10
    assert (model.encode_codes(x)[:, 0] == 0).any()


def test_train_rqvae_rejects_bad_embeddings():
    x = _data()
    bad = x.copy()
    bad[[7, 9]] = np.inf
    with pytest.raises(ValueError, match="2 embedding row.*first is row 7"):
        train_rqvae(bad, CFG, device="cpu", progress=False)
    with pytest.raises(ValueError, match="fewer than codebook_size=4; use codebook_size <= 3"):
        train_rqvae(x[:3], CFG, device="cpu", progress=False)
    with pytest.raises(ValueError, match="dim 5 but the config has in_dim=8"):
        train_rqvae(x[:, :5], CFG, device="cpu", progress=False)


def test_reconstruction_error_of_a_zero_model_is_the_mean_squared_norm():
    model = RQVAE(replace(CFG, in_dim=2))
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    x = np.array([[1, 0], [0.6, 0.8]], dtype=np.float32)
    # the decoder outputs 0, so the error is the mean of |x|^2 = (1 + 1) / 2
    assert reconstruction_error(model, x) == pytest.approx(1.0)
