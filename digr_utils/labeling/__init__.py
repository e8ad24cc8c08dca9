"""RLDI, reward-labeled deep interest: grade every mined interest, keep the good ones, score items.

:mod:`~digr_utils.labeling.grader` holds the features, graders, thresholds and item quality q_i;
:mod:`~digr_utils.labeling.stage` runs the stage on a dataset (``digr label``).
"""
from digr_utils.labeling.grader import (
    FEATURES, Classifier, Grading, InterestTable, budget_curve, calibration, choose_threshold,
    evaluate_labels, filtered_interests, grade, interest_table, item_quality, read_labels,
    sample_budget, train_classifier, truth_labels, user_evidence,
)

__all__ = [
    "FEATURES", "Classifier", "Grading", "InterestTable", "budget_curve", "calibration",
    "choose_threshold", "evaluate_labels", "filtered_interests", "grade", "interest_table",
    "item_quality", "read_labels", "sample_budget", "train_classifier", "truth_labels",
    "user_evidence",
]
