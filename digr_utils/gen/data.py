"""SFT task data: next-item windows over the training sequences plus two interest-alignment tasks.

Every example is (encoder tokens, decoder target). A task token opens the input, so one model
learns all three jobs: ``<next>`` + history SIDs -> next SID, ``<int2sid>`` + an item's interest
words -> its SID, ``<sid2int>`` + a SID -> the item's interest words. The last two tie SID tokens
to what the interests say, which is how deep interests reach the recommender beyond the codes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from digr_utils.data.dataset import Split
from digr_utils.gen.vocab import EOS, INT2SID, PAD, SID2INT, UNK, SidVocab

IGNORE = -100  # label padding: cross-entropy skips these positions

#: Interest words an ``<int2sid>`` input or a ``<sid2int>`` target keeps: enough for a few
#: interest statements, short enough that aux rows do not widen the next-item batches.
MAX_INTEREST_WORDS = 32

Pairs = list[tuple[list[int], list[int]]]  # (encoder input, decoder target) token lists


@dataclass
class TaskMix:
    """Which SFT tasks to train: next item, interests -> SID, SID -> interests."""

    next_item: bool = True
    interest_to_sid: bool = True
    sid_to_interest: bool = True


@dataclass
class Examples:
    """Padded SFT examples: ``inputs``/``attention_mask`` (n, L_in), ``labels`` (n, L_out) with
    -100 padding, row lengths (on the CPU, to trim each batch) and each row's ``task`` name."""

    inputs: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    input_lengths: torch.Tensor
    label_lengths: torch.Tensor
    task: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def to(self, device: str | torch.device) -> Examples:
        """The same examples with the token tensors on ``device`` (lengths stay on the CPU)."""
        return replace(self, inputs=self.inputs.to(device),
                       attention_mask=self.attention_mask.to(device), labels=self.labels.to(device))

    def subset(self, rows: torch.Tensor) -> Examples:
        """The examples ``rows`` (a CPU index tensor): a sample to time or smoke-test on."""
        return Examples(self.inputs[rows], self.attention_mask[rows], self.labels[rows],
                        self.input_lengths[rows], self.label_lengths[rows],
                        self.task[rows.numpy()])

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model inputs for ``rows`` (a CPU index tensor), trimmed to the batch's longest row.

        The widths come from the CPU lengths, so trimming never waits for the device.
        """
        width_in = int(self.input_lengths[rows].max())
        width_out = int(self.label_lengths[rows].max())
        idx = rows.to(self.inputs.device, non_blocking=True)
        return {"input_ids": self.inputs[idx, :width_in],
                "attention_mask": self.attention_mask[idx, :width_in],
                "labels": self.labels[idx, :width_out]}

    def counts(self) -> dict[str, int]:
        """How many examples each task contributes."""
        names, n = np.unique(self.task, return_counts=True)
        return dict(zip(names.tolist(), n.tolist()))


def next_item_examples(split: Split, vocab: SidVocab, max_history: int | None = None) -> Pairs:
    """For each training sequence and each t >= 1: ``<next>`` + SIDs of the previous (at most
    ``max_history``, default the split's) items -> the D tokens of item t (no EOS: every SID
    has exactly D tokens)."""
    _check_split(split, vocab, "next_item_examples")
    cap = max_history or split.max_history
    tokens = vocab.item_tokens()
    pairs = [(vocab.encode_history(seq[max(0, t - cap):t]), tokens[seq[t]].tolist())
             for seq in split.train for t in range(1, len(seq))]
    if not pairs:
        raise ValueError(f"next_item_examples: none of the split's {len(split.train)} training "
                         "sequences has 2+ items, so there is no next item to learn; use a split "
                         "of longer sequences (leave_one_out after k_core)")
    return pairs


def history_inputs(split: Split, vocab: SidVocab, which: str = "valid",
                   max_history: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder inputs ``(input_ids, attention_mask)`` for every user's ``which`` history, padded
    on the right to the longest (an empty history is the ``<next>`` token alone)."""
    _check_split(split, vocab, "history_inputs")
    return history_tensors(split.histories(which), vocab, max_history or split.max_history)


def history_tensors(histories: Sequence[np.ndarray], vocab: SidVocab,
                    max_history: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder inputs for any list of histories (item positions), the last ``max_history`` kept."""
    rows = [vocab.encode_history(np.asarray(h)[-max_history:]) for h in histories]
    inputs, lengths = _pad(rows, PAD)
    return inputs, _mask(lengths, inputs.shape[1])


def interest_to_sid_examples(vocab: SidVocab, interest_texts: Sequence[Sequence[str]]) -> Pairs:
    """``<int2sid>`` + the words of an item's kept interests -> its SID, for each item whose
    interests have any words (at most :data:`MAX_INTEREST_WORDS` read)."""
    tokens = vocab.item_tokens()
    return [([INT2SID, *words[:MAX_INTEREST_WORDS]], tokens[i].tolist())
            for i, words in _interest_words(vocab, interest_texts, "interest_to_sid_examples")
            if words]


def sid_to_interest_examples(vocab: SidVocab, interest_texts: Sequence[Sequence[str]]) -> Pairs:
    """``<sid2int>`` + an item's SID -> its known interest words (at most
    :data:`MAX_INTEREST_WORDS`) + EOS, for each item whose interests have known words."""
    tokens = vocab.item_tokens()
    pairs = []
    for i, words in _interest_words(vocab, interest_texts, "sid_to_interest_examples"):
        # an UNK in a target would teach the model to say "unknown word"; inputs keep them
        known = [w for w in words if w != UNK][:MAX_INTEREST_WORDS]
        if known:
            pairs.append(([SID2INT, *tokens[i].tolist()], [*known, EOS]))
    return pairs


def build_examples(split: Split, vocab: SidVocab,
                   interest_texts: Sequence[Sequence[str]] | None = None,
                   mix: TaskMix | None = None, max_history: int | None = None) -> Examples:
    """All SFT examples of the tasks ``mix`` switches on (default: all three), padded into
    tensors; ``interest_texts`` (one list of kept interests per item) feeds the two aux tasks."""
    mix = mix or TaskMix()
    if not (mix.next_item or mix.interest_to_sid or mix.sid_to_interest):
        raise ValueError("build_examples: the TaskMix switches every task off; turn on at least "
                         "next_item")
    if (mix.interest_to_sid or mix.sid_to_interest) and interest_texts is None:
        raise ValueError("build_examples: the TaskMix asks for interest tasks but interest_texts "
                         "is None; pass each item's kept interests or use "
                         "TaskMix(interest_to_sid=False, sid_to_interest=False)")
    parts: list[tuple[str, Pairs]] = []
    if mix.next_item:
        parts.append(("next_item", next_item_examples(split, vocab, max_history)))
    if mix.interest_to_sid:
        parts.append(("interest_to_sid", interest_to_sid_examples(vocab, interest_texts)))
    if mix.sid_to_interest:
        parts.append(("sid_to_interest", sid_to_interest_examples(vocab, interest_texts)))
    pairs = [pair for _, ps in parts for pair in ps]
    if not pairs:
        raise ValueError("build_examples: the chosen tasks produced no examples (no item has "
                         "interest words); turn on next_item or pass non-empty interest_texts")
    inputs, in_lengths = _pad([p[0] for p in pairs], PAD)
    labels, out_lengths = _pad([p[1] for p in pairs], IGNORE)
    task = np.concatenate([np.full(len(ps), name) for name, ps in parts])
    return Examples(inputs, _mask(in_lengths, inputs.shape[1]), labels, in_lengths, out_lengths,
                    task)


def _interest_words(vocab: SidVocab, interest_texts: Sequence[Sequence[str]], caller: str):
    """(item, word tokens of all its interests) for every item, after checking the length."""
    if len(interest_texts) != vocab.n_items:
        raise ValueError(f"{caller}: interest_texts has {len(interest_texts)} entries but the "
                         f"vocabulary has {vocab.n_items} items; pass one list of interest "
                         "texts per item (an empty list where an item has none)")
    return [(i, [w for text in texts for w in vocab.encode_words(text)])
            for i, texts in enumerate(interest_texts)]


def _check_split(split: Split, vocab: SidVocab, caller: str) -> None:
    if split.n_items != vocab.n_items:
        raise ValueError(f"{caller}: the split has {split.n_items} items but the vocabulary "
                         f"{vocab.n_items}; build the SidVocab from one SID row per item of "
                         "this dataset")


def _pad(rows: list[list[int]], fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(n, longest)`` int64 tensor of ``rows`` and each row's length."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    out = torch.full((len(rows), int(lengths.max()) if len(rows) else 0), fill, dtype=torch.int64)
    for r, row in enumerate(rows):
        out[r, :len(row)] = torch.tensor(row, dtype=torch.int64)
    return out, lengths


def _mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    return (torch.arange(width)[None, :] < lengths[:, None]).long()
