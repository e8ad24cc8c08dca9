"""The OpenAI-compatible client against the real `digr serve-llm` server (bundled SmolLM2 behind
it, on loopback) and against tiny scripted servers for the failures a real one rarely shows."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from digr_utils.interests.backends import GenerationSettings, LocalHF
from digr_utils.interests.openai_client import OpenAICompatible
from digr_utils.interests.server import start_in_thread

FRUIT = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def hf():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine one thread is ~10x faster than two
    yield LocalHF(settings=GenerationSettings(max_new_tokens=8, batch_size=1, prefill=""))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def served(hf):
    server, url = start_in_thread(hf)
    yield url
    server.shutdown()
    server.server_close()


def _post(url: str, body: object, key: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_round_trip_matches_the_model_run_in_process(hf, served):
    (done,) = OpenAICompatible(served, hf.model, api_key_env=None, max_tokens=8).complete([FRUIT])
    (local,) = hf.complete([FRUIT])  # same greedy decoding, same 8 tokens: the same answer
    assert done.error is None and done.text == local.text and done.text.strip()
    assert done.tokens == local.tokens and 1 <= done.tokens <= 8


def test_prefill_is_continued_and_returned_in_front(hf, served):
    client = OpenAICompatible(served, hf.model, api_key_env=None, max_tokens=8,
                              prefill="My favourite fruit is")
    (done,) = client.complete([FRUIT])
    hf.settings = replace(hf.settings, prefill="My favourite fruit is")
    try:
        (local,) = hf.complete([FRUIT])
    finally:
        hf.settings = replace(hf.settings, prefill="")
    assert done.error is None and done.text.startswith("My favourite fruit is")
    assert done.text == local.text


def test_response_shape_and_max_tokens(hf, served):
    status, body = _post(f"{served}/chat/completions",
                         {"model": hf.model, "messages": FRUIT, "max_tokens": 2})
    assert status == 200 and body["object"] == "chat.completion" and body["model"] == hf.model
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "length"
    usage = body["usage"]
    assert usage["completion_tokens"] == 2 and usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 2


def test_models_lists_the_one_served_model(hf, served):
    with urllib.request.urlopen(f"{served}/models", timeout=10) as response:
        body = json.loads(response.read())
    assert [m["id"] for m in body["data"]] == [hf.model]


@pytest.mark.parametrize("body, status, words", [
    ({"messages": "hi"}, 400, "'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": 3}]}, 400, "messages[0].content must be a string"),
    ({"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role must be one of"),
    ({"messages": FRUIT, "max_tokens": "8"}, 400, "'max_tokens' must be a whole number"),
    ({"messages": FRUIT, "model": "gpt-9"}, 404, "model 'gpt-9' is not served here"),
    (b"{not json", 400, "not valid JSON"),
])
def test_malformed_requests_get_an_openai_style_error(served, body, status, words):
    got, answer = _post(f"{served}/chat/completions", body)
    assert got == status and words in answer["error"]["message"]


def test_server_key_check(hf, monkeypatch):
    monkeypatch.setenv("DIGR_TEST_SERVER_KEY", "class-key-42")
    server, url = start_in_thread(hf, api_key_env="DIGR_TEST_SERVER_KEY")
    try:
        monkeypatch.setenv("DIGR_TEST_CLIENT_KEY", "wrong-key-77")
        (done,) = OpenAICompatible(url, hf.model, api_key_env="DIGR_TEST_CLIENT_KEY").complete([FRUIT])
        assert done.error.startswith(f"HTTP 401 from {url}/chat/completions")
        assert "wrong-key-77" not in done.error
        assert _post(f"{url}/chat/completions", {"messages": FRUIT})[0] == 401
        request = urllib.request.Request(f"{url}/models",
                                         headers={"Authorization": "Bearer class-key-42"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()


# --- failures, against scripted servers ---------------------------------------------------------

def _ok(content: str | None, tokens: int = 3) -> tuple[int, dict, bytes]:
    body = {"choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"completion_tokens": tokens}}
    return 200, {}, json.dumps(body).encode()


@pytest.fixture
def scripted(local_server):
    """Start a server answering with the given (status, headers, body) in turn (the last repeats)."""
    def start(*answers, delay: float = 0.0):
        seen, state = [], {"now": 0, "most": 0}
        lock = threading.Lock()

        def handle(method, headers, body):
            request = json.loads(body)
            with lock:
                seen.append((headers, request))
                status, head, answer = answers[min(len(seen), len(answers)) - 1]
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(delay)
            with lock:
                state["now"] -= 1
            return status, head, answer(request) if callable(answer) else answer

        return f"{local_server(handle)}/v1", seen, state

    return start


def test_500_is_retried_then_succeeds(scripted):
    url, seen, _ = scripted((500, {}, b"overloaded"), _ok("Apple."))
    (done,) = OpenAICompatible(url, "m", backoff=0).complete([FRUIT])
    assert (done.text, done.tokens, done.error, len(seen)) == ("Apple.", 3, None, 2)


def test_429_waits_for_retry_after_not_the_backoff(scripted):
    url, seen, _ = scripted((429, {"Retry-After": "0"}, b"slow down"), _ok("Apple."))
    start = time.perf_counter()
    (done,) = OpenAICompatible(url, "m", backoff=30).complete([FRUIT])
    assert done.text == "Apple." and len(seen) == 2
    assert time.perf_counter() - start < 10  # a 30 s backoff would have been slept otherwise


def test_404_is_not_retried_and_names_the_status(scripted):
    url, seen, _ = scripted((404, {}, b'{"error": "no such model"}'))
    (done,) = OpenAICompatible(url, "m", backoff=0).complete([FRUIT])
    assert len(seen) == 1 and done.text == ""
    assert done.error.startswith(f"HTTP 404 from {url}/chat/completions: ")
    assert "no such model" in done.error and "ends in /v1" in done.error


def test_retries_give_up_with_the_last_error(scripted):
    url, seen, _ = scripted((503, {}, b"down for maintenance"))
    (done,) = OpenAICompatible(url, "m", max_retries=2, backoff=0).complete([FRUIT])
    assert len(seen) == 3 and "HTTP 503" in done.error and "(after 3 tries)" in done.error


def test_connection_refused_suggests_serve_llm():
    with socket.socket() as s:  # a port that was just free and now has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (done,) = OpenAICompatible(f"http://127.0.0.1:{port}/v1", "m", max_retries=1,
                               backoff=0).complete([FRUIT])
    assert done.error == (f"could not reach http://127.0.0.1:{port}/v1/chat/completions: "
                          "connection refused; is the server running? start one with "
                          "`digr serve-llm` (after 2 tries)")


def test_timeout_is_a_clear_failure(scripted):
    url, _, _ = scripted(_ok("late"), delay=1.0)
    (done,) = OpenAICompatible(url, "m", timeout=0.2, max_retries=0).complete([FRUIT])
    assert done.error.startswith(f"no answer from {url}/chat/completions within 0.2 s")


@pytest.mark.parametrize("answer, words", [
    (_ok(""), "empty answer from"),
    (_ok(None), "empty answer from"),
    ((200, {}, b"<html>proxy error</html>"), "malformed answer from"),
    ((200, {}, b'{"choices": []}'), "malformed answer from"),
])
def test_empty_and_malformed_answers_are_failures(scripted, answer, words):
    url, _, _ = scripted(answer)
    (done,) = OpenAICompatible(url, "m").complete([FRUIT])
    assert words in done.error and done.text == ""


def test_key_is_sent_but_never_shown(scripted, monkeypatch):
    monkeypatch.setenv("DIGR_TEST_KEY", "sk-test-SECRET123")
    echo = (401, {}, lambda request: b"bad key sk-test-SECRET123")  # a server that echoes it
    url, seen, _ = scripted(echo)
    client = OpenAICompatible(url, "m", api_key_env="DIGR_TEST_KEY")
    (done,) = client.complete([FRUIT])
    assert seen[0][0]["Authorization"] == "Bearer sk-test-SECRET123"
    assert done.error == (f"HTTP 401 from {url}/chat/completions: 'bad key ***'; check the key "
                          "in $DIGR_TEST_KEY")
    assert "SECRET123" not in repr(client) and "SECRET123" not in str(vars(client))


def test_prefill_is_sent_as_a_trailing_assistant_turn(scripted):
    url, seen, _ = scripted(_ok('apple"}]}'), _ok('{"interests": [{"interest": "apple"}]}'))
    client = OpenAICompatible(url, "m", prefill='{"interests": [{"interest": "')
    continued, restarted = client.complete([FRUIT]), client.complete([FRUIT])
    assert seen[0][1]["messages"] == FRUIT + [{"role": "assistant",
                                               "content": '{"interests": [{"interest": "'}]
    # continued: prefill + continuation; a server that started afresh: not prefixed twice
    assert continued[0].text == restarted[0].text == '{"interests": [{"interest": "apple"}]}'


def test_concurrency_is_bounded_and_order_kept(scripted):
    def echo(request):
        return _ok(request["messages"][-1]["content"])[2]

    url, seen, state = scripted((200, {}, echo), delay=0.1)
    questions = [[{"role": "user", "content": f"q{i}"}] for i in range(6)]
    done = OpenAICompatible(url, "m", concurrency=2).complete(questions)
    assert [d.text for d in done] == [f"q{i}" for i in range(6)]
    assert len(seen) == 6 and state["most"] == 2


def test_settings_tag_follows_generation_settings_only():
    a = OpenAICompatible("http://h/v1", "m", prefill="x")
    assert a.settings_tag() == OpenAICompatible("http://other/v1", "m", prefill="x",
                                                concurrency=9).settings_tag()
    assert a.settings_tag() != OpenAICompatible("http://h/v1", "m", prefill="y").settings_tag()
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        OpenAICompatible("localhost:8000/v1", "m")


@pytest.mark.parametrize("port, max_tokens, words", [
    (0, 256, "--port 0 is not a TCP port; pick one from 1 to 65535"),
    (70000, 256, "--port 70000 is not a TCP port"),
    (-1, 256, "--port -1 is not a TCP port"),
    (8000, 0, "--max-tokens 0 would let no answer say anything"),
    (8000, -5, "--max-tokens -5 would let no answer say anything"),
])
def test_serve_forever_refuses_bad_port_and_max_tokens_before_loading(monkeypatch, port,
                                                                       max_tokens, words):
    from digr_utils.interests import server

    def no_load(*args, **kwargs):
        raise AssertionError("the model must not be loaded for a bad argument")

    monkeypatch.setattr(server, "LocalHF", no_load)
    with pytest.raises(ValueError, match=words):
        server.serve_forever(port=port, max_tokens=max_tokens)


@pytest.fixture
def recorder(local_server):
    """A loopback server on its own port that records every request (any method) and answers 200."""
    seen = []

    def handle(method, headers, body):
        seen.append((method, headers, body))
        return 200, {}, _ok("stolen")[2]

    return local_server(handle), seen


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_never_gets_the_key(scripted, recorder, monkeypatch, status):
    monkeypatch.setenv("DIGR_TEST_KEY", "sk-test-SECRET123")
    elsewhere, received = recorder
    url, seen, _ = scripted((status, {"Location": f"{elsewhere}/steal"}, b""))
    (done,) = OpenAICompatible(url, "m", api_key_env="DIGR_TEST_KEY", backoff=0).complete([FRUIT])
    assert seen[0][0]["Authorization"] == "Bearer sk-test-SECRET123"  # base_url gets it
    assert received == []  # the other port is never contacted (urllib sent 30x there with the key)
    assert done.error == (f"{url}/chat/completions redirects (HTTP {status}) to {elsewhere}/steal; "
                          "not followed, so the API key goes nowhere but base_url: if you trust "
                          "that address, set base_url to it")
    assert len(seen) == 1  # not retried


def test_a_key_echoed_in_an_answer_is_redacted_before_it_reaches_the_cache(scripted, monkeypatch,
                                                                          tmp_path):
    from digr_utils.data.dataset import from_sequences
    from digr_utils.interests.mining import mine_items

    monkeypatch.setenv("DIGR_TEST_KEY", "sk-test-SECRET123")
    url, _, _ = scripted(_ok('{"interests": [{"interest": "your key sk-test-SECRET123"}]}'))
    client = OpenAICompatible(url, "m", api_key_env="DIGR_TEST_KEY")
    (done,) = client.complete([FRUIT])
    assert done.text == '{"interests": [{"interest": "your key ***"}]}'
    ds = from_sequences("toy", {"u": ["a"]})
    ds.items["title"], ds.items["description"] = ["Mug"], ["Holds tea."]
    mined, _ = mine_items(ds, client, tmp_path / "cache.jsonl", progress=False)
    assert mined[0].interests[0].text == "your key ***"
    assert "SECRET123" not in (tmp_path / "cache.jsonl").read_text()
