"""The LLM judge for RLDI labels: verdict parsing, the prompt, caching and resuming."""
import numpy as np
import pytest

from digr_utils.interests.backends import Completion
from digr_utils.interests.llm_judge import judge_prompt, llm_judge, parse_verdict


@pytest.mark.parametrize("text, verdict", [
    ('{"grounded": 1}', 1), ('{"grounded": 0}', 0), ("1}", 1), ('0 }', 0),
    ('{"Grounded": "yes"}', 1), ("grounded: false", 0), ("Yes, it is.", 1),
    ("I think so", -1), ("", -1), ('{"grounded": maybe}', -1)])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_prompt_ends_with_the_item_and_statement():
    messages = judge_prompt("Trail Tent", "", "camping weekends")
    assert messages[0]["role"] == "system" and "grounded" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content":
                            "Title: Trail Tent\nDescription: (none)\nStatement: camping weekends"}
    # worked examples alternate user / assistant before it
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * 3


class FakeJudge:
    name, model = "fake", "judge"

    def __init__(self, answers):
        self.answers, self.calls = answers, 0

    def settings_tag(self):
        return "t"

    def complete(self, conversations):
        self.calls += len(conversations)
        return [self.answers(c[-1]["content"]) for c in conversations]


def test_judge_caches_verdicts_and_retries_failed_calls(tmp_path):
    statements = ["camping weekends", "wants a tent", "cooking"]
    args = (statements, ["Tent"] * 3, ["d"] * 3, ["i0", "i0", "i1"])
    answers = {"camping weekends": Completion("1}"), "wants a tent": Completion("0}"),
               "cooking": Completion(error="timeout")}
    judge = FakeJudge(lambda content: answers[content.rsplit("Statement: ", 1)[1]])
    cache = tmp_path / "judge.jsonl"
    with pytest.warns(UserWarning, match=r"llm_judge: 1 of 3 calls to judge failed .*: timeout \(1x\)"):
        np.testing.assert_array_equal(llm_judge(*args, judge, cache, progress=False), [1, 0, -1])
    assert judge.calls == 3
    answers["cooking"] = Completion("nonsense")
    again = FakeJudge(judge.answers)
    # only the failed call is asked again; an unreadable answer is cached as -1
    np.testing.assert_array_equal(llm_judge(*args, again, cache, progress=False), [1, 0, -1])
    assert again.calls == 1
    with open(cache, "a") as f:
        f.write('{"key": "cut off')  # an interrupted write
    third = FakeJudge(judge.answers)
    np.testing.assert_array_equal(llm_judge(*args, third, cache, progress=False), [1, 0, -1])
    assert third.calls == 0


def test_judge_rejects_misaligned_rows(tmp_path):
    with pytest.raises(ValueError, match="2 statements but 1 titles"):
        llm_judge(["a", "b"], ["t"], ["d", "d"], ["i", "i"], FakeJudge(None), tmp_path / "j")


@pytest.mark.parametrize("dead", [lambda c: Completion(""), lambda c: Completion(error="HTTP 500"),
                                  None])  # None: complete() itself raises
def test_an_empty_or_failed_call_is_logged_not_cached_and_asked_again(tmp_path, dead):
    args = (["camping weekends"], ["Tent"], ["d"], ["i0"])
    cache = tmp_path / "judge.jsonl"
    with pytest.warns(UserWarning, match="1 of 1 calls to judge failed"):
        np.testing.assert_array_equal(llm_judge(*args, FakeJudge(dead), cache, progress=False), [-1])
    assert '"failed": true' in cache.read_text()  # in the file for the log
    healthy = FakeJudge(lambda content: Completion("1}"))
    np.testing.assert_array_equal(llm_judge(*args, healthy, cache, progress=False), [1])
    assert healthy.calls == 1


def test_the_same_item_id_with_other_evidence_is_judged_again(tmp_path):
    cache = tmp_path / "judge.jsonl"
    judge = FakeJudge(lambda content: Completion("1}" if "Tent" in content else "0}"))
    assert llm_judge(["camping"], ["Tent"], ["d"], ["i0"], judge, cache, progress=False)[0] == 1
    # another dataset reuses id i0 for a mug: the tent's verdict must not be served
    assert llm_judge(["camping"], ["Mug"], ["d"], ["i0"], judge, cache, progress=False)[0] == 0
    assert judge.calls == 2
