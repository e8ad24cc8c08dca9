"""The zero-shot taxonomy matcher: sentences cut right, matched by hand-made vectors, and an
entry list worded apart from the scorer's references and the panel's phrases."""
import re

import numpy as np

from digr_utils.data.references import REFERENCES, TAXONOMY
from digr_utils.data.vocabulary import MOTIVES
from digr_utils.interests.simulated import FRAMES, PARAPHRASES
from digr_utils.interests.taxonomy import match_items, pieces


def _normal(text):
    return re.sub(r"\s+", " ", text.strip().lower())


def test_pieces_cut_sentences_and_listed_details():
    text = ("A slim kitchen scale from Nexum. Runs on two AAA batteries. Key details: airtight "
            "lids, a built-in timer and a travel-size tube. For the pour-over coffee lover.")
    assert pieces(text) == ["A slim kitchen scale from Nexum", "Runs on two AAA batteries",
                            "airtight lids", "a built-in timer", "a travel-size tube",
                            "For the pour-over coffee lover"]
    assert pieces("") == []


def test_taxonomy_is_worded_apart_from_the_scorer_and_the_panel():
    assert set(TAXONOMY) == set(MOTIVES)
    entries = {_normal(t) for texts in TAXONOMY.values() for t in texts}
    references = {_normal(r) for refs in REFERENCES.values() for r in refs}
    panel = {_normal(frame.format(w)) for ws in PARAPHRASES.values() for w in ws
             for frames in FRAMES for frame in frames}
    assert not entries & references and not entries & panel


def test_matching_by_hand_made_vectors():
    # each taxonomy entry points along its motive's axis; a sentence along the coffee axis (0.9)
    # and slightly towards yoga (0.3); another sentence matches nothing above the floor
    keys = list(TAXONOMY)
    axis = {text: keys.index(key) for key in keys for text in TAXONOMY[key]}
    coffee, yoga = keys.index("coffee"), keys.index("yoga")
    sentences = {"For the pour-over lover": {coffee: 0.9, yoga: 0.3},
                 "Runs on batteries": {}, "Bends easily": {yoga: 0.2}}

    def embed(texts):
        out = np.zeros((len(texts), len(keys) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            if text in axis:
                out[row, axis[text]] = 1.0
            else:
                for k, v in sentences[text].items():
                    out[row, k] = v
                out[row, -1] = np.sqrt(max(0.0, 1.0 - (out[row] ** 2).sum()))
        return out

    answers = match_items(["For the pour-over lover. Runs on batteries.", "Bends easily.",
                           "Runs on batteries."], embed, ["a", "b", "c"])
    assert [a.entity for a in answers] == ["a", "b", "c"]
    assert [(i.text, i.confidence) for i in answers[0].interests] == [
        (TAXONOMY["coffee"][0], 0.9), (TAXONOMY["yoga"][0], 0.3)]
    assert answers[1].interests == [] and answers[2].interests == []  # 0.2 is under the floor
    assert {a.model for a in answers} == {"taxonomy-minilm"}


def test_the_scorer_reads_every_taxonomy_label_as_its_motive():
    from digr_utils.interests.scoring import minilm_matcher

    labels = [texts[0] for texts in TAXONOMY.values()]
    assert minilm_matcher().match(labels) == list(TAXONOMY)
