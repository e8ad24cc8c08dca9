"""RLDI labeling: features, q_i and thresholds on hand-made interests with chosen vectors."""
import math

import numpy as np
import pandas as pd
import pytest

from digr_utils.interests.types import Interest, Mined
from digr_utils.labeling import (
    FEATURES,
    InterestTable,
    budget_curve,
    calibration,
    choose_threshold,
    evaluate_labels,
    filtered_interests,
    grade,
    interest_table,
    item_quality,
    read_labels,
    sample_budget,
    train_classifier,
    user_evidence,
)
from digr_utils.labeling.grader import best_single_feature, echo_rule

CAMPING, TENT, YOGA, OUTDOOR = ("camping weekends", "wants a good tent", "daily yoga practice",
                                "outdoor overnight trips")
# Interests and evidence (title. description) as chosen unit vectors, so every cosine is by hand:
# cos(CAMPING, OUTDOOR) = 0.6 (a paraphrase at the merge threshold), TENT and YOGA stand apart.
VECTORS = {
    CAMPING: [1, 0, 0], OUTDOOR: [0.6, 0.8, 0], TENT: [0, 0, 1], YOGA: [0, 1, 0],
    "Trail Tent. Sleeps two.": [0.8, 0, 0.6], "Yoga Mat.": [0, 1, 0],
    "Camp Stove. Boils fast.": [1, 0, 0],
}


def fake_embed(texts):
    return np.array([VECTORS[t] for t in texts], dtype=np.float32)


ITEMS = pd.DataFrame({
    "item_id": ["i0", "i1", "i2"],
    "title": ["Trail Tent", "Yoga Mat", "Camp Stove"],
    "description": ["Sleeps two.", "", "Boils fast."],
    "product_type": ["tent", "yoga mat", "stove"],
})


def _answer(entity, *interests, error=None):
    return Mined(entity=entity, backend="test", model="m", error=error,
                 interests=[Interest(t, c) for t, c in interests])


def _panel():
    return {
        "a": [_answer("i0", (CAMPING, 0.8), (TENT, None)), _answer("i1", (YOGA, 0.9)),
              _answer("i2")],
        "b": [_answer("i0", (OUTDOOR, None)), _answer("i1", ("  ", 0.5)),
              _answer("i2", error="did not parse")],
    }


def _hand_table(entities, confidences, texts=None):
    texts = texts or [f"t{k}" for k in range(len(entities))]
    frame = pd.DataFrame({"entity": entities, "confidence": confidences, "text": texts})
    return InterestTable(frame, np.zeros((len(entities), 2), dtype=np.float32))


def test_interest_table_features_worked_out_by_hand():
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    f = table.frame
    # llm-major order; b's blank interest is dropped and its failed answer adds nothing
    assert list(f["text"]) == [CAMPING, TENT, YOGA, OUTDOOR]
    assert list(f["entity"]) == [0, 0, 1, 0]
    assert list(f["entity_id"]) == ["i0", "i0", "i1", "i0"]
    assert list(f["llm"]) == ["a", "a", "a", "b"]
    assert f["confidence"].iloc[0] == 0.8 and math.isnan(f["confidence"].iloc[1])
    # cosine with the item's evidence: [0.8, 0, 0.6] for i0, [0, 1, 0] for i1
    np.testing.assert_allclose(f["evidence_sim"], [0.8, 0.6, 1.0, 0.48], atol=1e-6)
    assert list(f["confidence_filled"]) == [0.8, 0.5, 0.9, 0.5]
    assert list(f["confidence_missing"]) == [0, 1, 0, 1]
    # CAMPING and OUTDOOR are paraphrases (cos 0.6) from different LLMs; TENT has none
    assert list(f["agreement"]) == [1, 0, 0, 1]
    assert list(f["n_words"]) == [2, 4, 3, 3]
    # words of 4+ letters found in the title: "tent" of (wants, good, tent); "yoga" of 3
    np.testing.assert_allclose(f["title_echo"], [0, 1 / 3, 1 / 3, 0])
    # "yoga mat" is not in "daily yoga practice"; "tent" is a whole word of TENT
    assert list(f["has_product_type"]) == [0, 1, 0, 0]
    np.testing.assert_allclose(table.embeddings[3], [0.6, 0.8, 0])


def test_interest_table_rejects_misaligned_answers():
    panel = _panel()
    panel["b"] = panel["b"][:2]
    with pytest.raises(ValueError, match="'b' has 2 answers for 3 items"):
        interest_table(panel, ITEMS, embed_fn=fake_embed)
    panel = _panel()
    panel["a"] = panel["a"][::-1]
    with pytest.raises(ValueError, match="answer 0 is about 'i2' but item 0 is 'i0'"):
        interest_table(panel, ITEMS, embed_fn=fake_embed)


def test_item_quality_by_hand():
    table = _hand_table(
        entities=[0, 0, 1, 1, 3, 3, 4, 4],
        confidences=[0.6, 0.2, np.nan, np.nan, 0.0, 0.0, np.nan, 1.0])
    keep = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    q = item_quality(table, keep, n_items=5)
    np.testing.assert_allclose(q, [
        0.6 / 0.8,          # weighted by confidence
        0.5,                # all confidences missing: each counts 1
        0.0,                # no interests
        0.5,                # all confidences 0: each counts 1 instead of dividing by 0
        0.5 / 1.5,          # one missing among known ones: it weighs 0.5
    ])
    assert filtered_interests(table, keep, 5) == [["t0"], ["t3"], [], ["t4"], ["t6"]]


def test_item_quality_of_an_empty_table_is_zero_not_nan():
    table = interest_table({"a": [_answer("i0"), _answer("i1"), _answer("i2")]}, ITEMS,
                           embed_fn=fake_embed)
    assert len(table) == 0
    np.testing.assert_array_equal(item_quality(table, np.zeros(0), 3), [0, 0, 0])


def test_keep_must_have_one_entry_per_row():
    with pytest.raises(ValueError, match="keep has shape"):
        item_quality(_hand_table([0, 1], [0.5, 0.5]), np.array([1]), 2)


def test_sample_budget_draws_distinct_sorted_rows():
    rows = sample_budget(10, 4, seed=3)
    assert len(set(rows)) == 4 and list(rows) == sorted(rows) and rows.max() < 10
    np.testing.assert_array_equal(rows, sample_budget(10, 4, seed=3))
    with pytest.raises(ValueError, match="budget=11 but there are 10"):
        sample_budget(10, 11, seed=0)


def test_training_needs_labels_of_both_classes():
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    labels = np.array([1, 0, 1, 1])
    with pytest.raises(ValueError, match="label at least a few interests"):
        train_classifier(table, labels, rows=np.array([], dtype=int))
    with pytest.raises(ValueError, match="all 3 labelled interests are good; RLDI needs both"):
        train_classifier(table, labels, rows=np.array([0, 2, 3]))
    with pytest.raises(ValueError, match="kind='svm'"):
        train_classifier(table, labels, rows=np.array([0, 1]), kind="svm")


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_classifier_gives_one_probability_per_row(kind):
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    proba = train_classifier(table, np.array([1, 0, 1, 1]), np.arange(4), kind=kind).predict_proba(table)
    assert proba.shape == (4,) and ((proba >= 0) & (proba <= 1)).all()


# scores 0.9 0.8 0.7 0.6 0.3 with labels 1 1 0 1 0: keeping >= t gives (precision, recall, F1)
# t=0.9 (1, 1/3, 0.5), 0.8 (1, 2/3, 0.8), 0.7 (2/3, 2/3, 2/3), 0.6 (3/4, 1, 6/7), 0.3 (3/5, 1, 3/4)
PROBA, LABELS = np.array([0.9, 0.8, 0.7, 0.6, 0.3]), np.array([1, 1, 0, 1, 0])


def test_threshold_choice_by_hand():
    assert choose_threshold(PROBA, LABELS) == 0.6
    assert choose_threshold(PROBA, LABELS, target_precision=1.0) == 0.8
    assert choose_threshold(PROBA, LABELS, target_precision=0.7) == 0.6
    with pytest.raises(ValueError, match="no cut-off reaches precision 0.9; the best is 0.500"):
        choose_threshold(np.array([0.9, 0.1]), np.array([0, 1]), target_precision=0.9)


def test_evaluate_labels_by_hand():
    perfect = evaluate_labels(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]))
    assert perfect["roc_auc"] == 1.0 and perfect["average_precision"] == 1.0
    assert perfect["precision"] == 1.0 and perfect["recall"] == 1.0 and perfect["kept"] == 2
    # 5 of the 6 (good, bad) pairs are ordered right: only 0.6 < 0.7 is not
    report = evaluate_labels(PROBA, LABELS, threshold=0.65)
    assert report["roc_auc"] == pytest.approx(5 / 6)
    assert report["precision"] == pytest.approx(2 / 3) and report["recall"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="all 2 labels are 1"):
        evaluate_labels(np.array([0.2, 0.3]), np.array([1, 1]))


def test_classifier_beats_confidence_and_simple_rules_on_the_ci_shop_panel():
    from digr_utils.data.world import load_shop
    from digr_utils.interests.scoring import minilm_matcher
    from digr_utils.interests.simulated import default_panel
    from digr_utils.labeling import truth_labels

    shop = load_shop("ci")
    n_items = len(shop.dataset.items)
    panel = {a.name: [a.mine_item(i, shop) for i in range(n_items)] for a in default_panel()}
    table = interest_table(panel, shop.dataset.items)
    labels = truth_labels(table, shop.motive_sets(), minilm_matcher())
    rows = sample_budget(len(table), 200, seed=0)
    held = np.setdiff1d(np.arange(len(table)), rows)
    auc = {}
    for kind in ("logistic", "mlp"):
        proba = train_classifier(table, labels, rows, kind).predict_proba(table)
        auc[kind] = evaluate_labels(proba[held], labels[held])["roc_auc"]
    confidence = evaluate_labels(table.frame["confidence_filled"].to_numpy()[held], labels[held])["roc_auc"]
    echo = evaluate_labels(echo_rule(table)[held], labels[held])["roc_auc"]
    feature, single = best_single_feature(table, labels, rows, held)
    print(f"held-out AUC on {len(held)} interests: logistic {auc['logistic']:.3f}, "
          f"mlp {auc['mlp']:.3f}, confidence only {confidence:.3f}, echo rule {echo:.3f}, "
          f"best single feature ({feature}) {single:.3f}")
    assert auc["logistic"] > max(confidence, echo, single) + 0.03
    assert auc["mlp"] > confidence
    q = item_quality(table, labels, n_items)
    assert not np.isnan(q).any() and ((q >= 0) & (q <= 1)).all()


def test_echo_rule_by_hand():
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    # rows: CAMPING (0.8, no echo), TENT (no confidence: 0.5; names the type "tent"),
    # YOGA (0.9; "yoga" is 1 of its 3 long words and in the title), OUTDOOR (0.5, no echo)
    assert list(table.frame["text"]) == [CAMPING, TENT, YOGA, OUTDOOR]
    np.testing.assert_allclose(echo_rule(table), [1 + 0.4, 0 + 0.25, 2 / 3 + 0.45, 1 + 0.25])


def test_best_single_feature_is_oriented_on_the_labelled_rows():
    frame = pd.DataFrame(0.0, index=range(8), columns=list(FEATURES))
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    frame["n_words"] = [9, 8, 2, 1, 7, 9, 3, 2]  # fewer words, better: separates every row
    frame["agreement"] = [0, 0, 1, 1, 1, 0, 0, 1]  # right on the labelled rows, a coin later
    frame["title_echo"] = [1, 1, 0, 0, 0, 0, 1, 1]  # its direction flips on the held rows
    table = InterestTable(frame, np.zeros((8, 2)))
    rows, held = np.arange(4), np.arange(4, 8)
    assert best_single_feature(table, labels, rows, held) == ("n_words", 1.0)
    frame["n_words"] = 0.0  # constant: skipped; agreement ranks held rows at AUC 0.5
    assert best_single_feature(table, labels, rows, held) == ("agreement", 0.5)


def test_calibration_table_by_hand():
    # bins of width 0.5: [0.1, 0.3] -> predicted 0.2, observed 1/2; [0.6, 0.8, 0.9] -> 23/30, 2/3
    table = calibration(np.array([0.1, 0.3, 0.6, 0.8, 0.9]), np.array([0, 1, 1, 0, 1]), n_bins=2)
    np.testing.assert_allclose(table["predicted"], [0.2, 2.3 / 3])
    np.testing.assert_allclose(table["observed"], [0.5, 2 / 3])
    assert list(table["count"]) == [2, 3]
    # a score of exactly 1.0 falls in the last bin, not a bin of its own
    assert len(calibration(np.array([1.0, 0.0]), np.array([1, 0]), n_bins=2)) == 2


def test_budget_curve_reports_untrainable_budgets_instead_of_failing():
    table = _hand_table(list(range(20)), [0.5] * 20)
    table.frame["title_echo"] = 0.0
    for feature in FEATURES:
        table.frame[feature] = np.arange(20, dtype=float) if feature == "n_words" else 0.0
    labels = (np.arange(20) >= 18).astype(int)  # two good interests only
    curve = budget_curve(table, labels, budgets=[1, 13], seeds=[0], test_share=0.3)
    # a budget of 1 holds one class; 13 of the 14 non-test rows can still miss every good one
    assert list(curve["budget"]) == [1, 13]
    assert not curve["trained"].iloc[0] and np.isnan(curve["roc_auc"].iloc[0])
    with pytest.raises(ValueError, match="budget 15 exceeds the 14 rows outside the test set"):
        budget_curve(table, labels, budgets=[15], seeds=[0], test_share=0.3)


def test_read_labels_joins_by_item_and_text(tmp_path):
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    path = tmp_path / "labels.csv"
    path.write_text(f"entity_id,text,label\ni0,{CAMPING},1\ni1,{YOGA},0\n")
    np.testing.assert_array_equal(read_labels(path, table), [1, -1, 0, -1])
    path.write_text("entity_id,text,label\ni0,x,2\n")
    with pytest.raises(ValueError, match="labels.csv, line 2 has label '2'; labels must be 0"):
        read_labels(path, table)
    path.write_text("entity_id,interest,label\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['text'\]"):
        read_labels(path, table)
    path.write_text("entity_id,text,label\ni9,nothing,1\n")
    with pytest.raises(ValueError, match="none of its 1 rows matches a mined interest"):
        read_labels(path, table)


def test_user_evidence_joins_history_titles():
    frame = user_evidence(ITEMS, ["u0", "u1"], [np.array([0, 2]), np.array([1])])
    assert list(frame["title"]) == ["Trail Tent; Camp Stove", "Yoga Mat"]
    assert list(frame["user_id"]) == ["u0", "u1"]
    with pytest.raises(ValueError, match="2 user ids but 1 histories"):
        user_evidence(ITEMS, ["u0", "u1"], [np.array([0])])


def test_grade_keeps_labelled_rows_by_their_label_and_scores_the_rest():
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    graded = grade(table, np.array([1, 0, -1, -1]), truth=np.array([1, 0, 1, 0]))
    assert graded.keep[0] and not graded.keep[1]
    np.testing.assert_array_equal(graded.held, [2, 3])
    assert graded.scores["n"] == 2 and graded.proba.shape == (4,)


def _labels_file(tmp_path, body: str | bytes):
    path = tmp_path / "labels.csv"
    if isinstance(body, str):
        path.write_text("entity_id,text,label\n" + body, encoding="utf-8")
    else:
        path.write_bytes(body)
    return path


@pytest.mark.parametrize("body, words", [
    # the label column holds text from line 4 on: line 4 is named, not the first data line
    (f"i0,{CAMPING},1\ni1,{YOGA},0\ni2,x,yes\n", r"labels\.csv, line 4 has label 'yes'; labels must be 0"),
    (f"i0,{CAMPING},1\n\ni1,{YOGA},\n", r"labels\.csv, line 4 has label ''"),  # blank line 3 counted
    (f'i0,"{CAMPING}\nover two lines",1\ni1,{YOGA},high\n', r"line 4 has label 'high'"),
    (f"i0,{CAMPING},1\ni1,  ,0\n", r"labels\.csv, line 3: empty text; copy it from the exported table"),
    (f"i0,{CAMPING},1\ni1,{YOGA},0\ni0,{CAMPING},0\n",
     r"labels\.csv: lines 2 and 4 label the same interest \(i0, 'camping weekends'\) 1 and 0; keep"),
    (f"i0,{CAMPING},1\ni1,{YOGA}\n", r"labels\.csv, line 3: 2 fields where entity_id, text and label"),
    (f'i0,{CAMPING},1\ni1,"{YOGA},0\n', r"labels\.csv: cannot be read as CSV after line 2 .*cut off"),
])
def test_read_labels_reports_bad_rows_with_file_line_and_fix(tmp_path, body, words):
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    with pytest.raises(ValueError, match=words):
        read_labels(_labels_file(tmp_path, body), table)


def test_read_labels_warns_about_rows_that_match_no_mined_interest(tmp_path):
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    path = _labels_file(tmp_path, f"i0,{CAMPING},1\ni2,unmined,1\ni1,{YOGA},1.0\ni0,{CAMPING},1\n")
    with pytest.warns(UserWarning, match=r"labels\.csv: 1 rows match no mined interest \(lines 3\)"):
        labels = read_labels(path, table)
    np.testing.assert_array_equal(labels, [1, -1, 1, -1])  # a repeated, agreeing row is fine


def test_read_labels_names_a_file_that_is_not_utf8(tmp_path):
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    path = _labels_file(tmp_path, "entity_id,text,label\ni0,caf\xe9 mornings,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"labels\.csv: not UTF-8 text .*save it as 'CSV UTF-8'"):
        read_labels(path, table)


@pytest.mark.parametrize("label", [0, 1])
def test_grade_with_labels_of_one_class_drops_or_keeps_everything(label):
    # a miner so bad that every sampled interest is wrong (or so good that all are right) leaves
    # no boundary to learn: every interest gets that label instead of the grader failing
    table = interest_table(_panel(), ITEMS, embed_fn=fake_embed)
    graded = grade(table, np.array([label, label, -1, -1]), truth=np.array([label, label, 1, 0]))
    assert graded.keep.tolist() == [bool(label)] * 4
    np.testing.assert_array_equal(graded.proba, [float(label)] * 4)
    assert graded.scores["kept"] == (2 if label else 0)
