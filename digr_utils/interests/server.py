"""``digr serve-llm``: an OpenAI-compatible chat-completions endpoint over one local model.

An instructor serves one model to a classroom; students point ``OpenAICompatible`` (or any
OpenAI client) at it. Standard library only. Many clients may connect, but the one in-process
model answers one request at a time. Decoding is greedy whatever ``temperature`` asks; a
trailing assistant message is continued (a prefill), as llama.cpp and Ollama do.
"""
from __future__ import annotations

import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from digr_utils.interests.backends import Completion, GenerationSettings, LocalHF

_MAX_BODY = 1 << 20  # bytes; a prompt for a 8k-token model is far smaller
_ROLES = ("system", "user", "assistant")


class _Refused(Exception):
    """A request answered with an OpenAI-style error instead of a completion."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


class _Server(ThreadingHTTPServer):
    """The HTTP server plus what its handlers share: the model, its lock, the expected key."""

    def __init__(self, address: tuple[str, int], backend: LocalHF, api_key: str | None):
        super().__init__(address, _Handler)
        self.backend = backend
        self.lock = threading.Lock()  # one model, one generation at a time
        self.api_key = api_key
        self.verbose = False  # one log line per request, for ``serve_forever``


def serve(backend: LocalHF, host: str = "127.0.0.1", port: int = 8000,
          api_key_env: str | None = None) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0: any free one); call ``serve_forever()`` on it.

    With ``api_key_env``, clients must send the key held in that environment variable as
    ``Authorization: Bearer …``.
    """
    api_key = _expected_key(api_key_env)
    try:
        return _Server((host, port), backend, api_key)
    except OSError as err:
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror}; pick another --port") from None


def start_in_thread(backend: LocalHF, port: int = 0, host: str = "127.0.0.1",
                    api_key_env: str | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve from a background thread (tests, notebooks); returns the server and its ``/v1`` URL.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = serve(backend, host, port, api_key_env)
    threading.Thread(target=server.serve_forever, name="digr-serve-llm", daemon=True).start()
    return server, f"http://{host}:{server.server_port}/v1"


def serve_forever(model: str | None = None, host: str = "127.0.0.1", port: int = 8000,
                  api_key_env: str | None = None, max_tokens: int = 256) -> None:
    """Load ``model`` (default: the bundled SmolLM2) and serve it until Ctrl-C; prints the URL.

    Raises ``ValueError`` for a bad ``port``, ``max_tokens`` or key before loading any model.
    """
    _check_serve_args(port, max_tokens)
    try:
        _expected_key(api_key_env)  # fail before the slow model load
        backend = LocalHF(model, settings=GenerationSettings(max_new_tokens=max_tokens, prefill=""))
        server = serve(backend, host, port, api_key_env)
    except (OSError, ValueError) as err:
        raise SystemExit(f"digr serve-llm: {err}") from None
    server.verbose = True
    shown = "<this machine's address>" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{server.server_port}/v1"
    print(f"serving {backend.model} at {url} (one request at a time, up to {max_tokens} new "
          "tokens each; Ctrl-C stops)")
    if api_key_env:
        print(f"clients must send the key in ${api_key_env}: export it as OPENAI_API_KEY on their side")
    print(f"try: digr mine --backend openai --base-url {url} --model {backend.model}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _check_serve_args(port: int, max_tokens: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"--port {port!r} is not a TCP port; pick one from 1 to 65535 "
                         "(ports below 1024 need root; 8000 is the default)")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"--max-tokens {max_tokens!r} would let no answer say anything; give a "
                         "whole number of at least 1 (256 is the default)")


def _expected_key(api_key_env: str | None) -> str | None:
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise ValueError(f"api_key_env={api_key_env!r} but ${api_key_env} is not set; export "
                         f"{api_key_env}=<a key for your students> or leave --api-key-env out")
    return key


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "digr-serve-llm"

    def do_GET(self) -> None:
        self._answer(self._models)

    def do_POST(self) -> None:
        self._answer(self._chat)

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _answer(self, route: Callable[[], dict]) -> None:
        try:
            self._send(200, route())
        except _Refused as err:
            kind = "invalid_request_error" if err.status < 500 else "server_error"
            self._send(err.status, {"error": {"message": str(err), "type": kind,
                                              "param": err.param, "code": err.code}})

    def _check_key(self) -> None:
        expected = self.server.api_key
        if expected is None:
            return
        sent = self.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
            raise _Refused(401, "missing or wrong API key: send the server's key as "
                                "'Authorization: Bearer <key>'", "invalid_api_key")

    def _models(self) -> dict:
        self._check_key()
        if self._route() != "/v1/models":
            raise _Refused(404, f"no route GET {self._route()}; try GET /v1/models", "not_found")
        return {"object": "list", "data": [{"id": self.server.backend.model, "object": "model",
                                            "created": 0, "owned_by": "digr"}]}

    def _chat(self) -> dict:
        raw = self._read_body()  # first: closing with a body unread can reset the client's socket
        self._check_key()
        if self._route() != "/v1/chat/completions":
            raise _Refused(404, f"no route POST {self._route()}; try POST /v1/chat/completions",
                           "not_found")
        backend = self.server.backend
        conversation, prefill, max_tokens = _parse(_json(raw), backend)
        with self.server.lock:
            try:
                done = _generate(backend, conversation, prefill, max_tokens)
            except Exception as err:  # a failed generation answers 500; the server goes on
                raise _Refused(500, f"generation failed: {type(err).__name__}: {err}") from None
        prompt_tokens = backend.prompt_tokens(conversation, prefill)
        if done.error is not None:
            raise _Refused(400, done.error, "context_length_exceeded", "messages")
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
                "created": int(time.time()), "model": backend.model,
                "choices": [{"index": 0, "message": {"role": "assistant",
                                                     "content": done.text.removeprefix(prefill)},
                             "finish_reason": "length" if done.tokens >= max_tokens else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": done.tokens,
                          "total_tokens": prompt_tokens + done.tokens}}

    def _route(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _Refused(411, "send the JSON body with a Content-Length header")
        if int(length) > _MAX_BODY:
            raise _Refused(413, f"request body of {length} bytes is over the {_MAX_BODY}-byte limit")
        return self.rfile.read(int(length))

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(data)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _Refused(400, f"request body is not valid JSON ({err}); send "
                            '{"model": ..., "messages": [{"role": "user", "content": ...}]}') from None


def _parse(request: object, backend: LocalHF) -> tuple[list[dict], str, int]:
    """Check a chat request; returns the conversation, the prefill ("" if none) and max tokens."""
    if not isinstance(request, dict):
        raise _Refused(400, "request body must be a JSON object with a 'messages' list")
    model = request.get("model")
    if model is not None and model != backend.model:
        raise _Refused(404, f"model {model!r} is not served here; this server serves "
                            f"{backend.model!r} (see GET /v1/models)", "model_not_found", "model")
    if request.get("stream"):
        raise _Refused(400, "streaming is not supported; send \"stream\": false", param="stream")
    if request.get("n", 1) != 1:
        raise _Refused(400, "only n = 1 is supported", param="n")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Refused(400, "'messages' must be a non-empty list of {\"role\": ..., \"content\": "
                            "...} objects", param="messages")
    conversation = [_message(m, i) for i, m in enumerate(messages)]
    prefill = ""
    if conversation[-1]["role"] == "assistant":
        prefill = conversation.pop()["content"]
        if not conversation:
            raise _Refused(400, "a trailing assistant message (a prefill) needs a user message "
                                "before it", param="messages")
    cap = backend.settings.max_new_tokens
    max_tokens = request.get("max_tokens", request.get("max_completion_tokens", cap))
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _Refused(400, f"'max_tokens' must be a whole number >= 1, got {max_tokens!r}",
                       param="max_tokens")
    return conversation, prefill, min(max_tokens, cap)


def _message(message: object, index: int) -> dict:
    """One message as ``{"role", "content"}``, text parts joined; a 400 names what is wrong."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _Refused(400, f"{where} must be an object with 'role' and 'content'", param=where)
    role, content = message.get("role"), message.get("content")
    if role not in _ROLES:
        raise _Refused(400, f"{where}.role must be one of {', '.join(_ROLES)}, got {role!r}",
                       param=f"{where}.role")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise _Refused(400, f"{where}.content must be a string (or a list of "
                            '{"type": "text", "text": ...} parts)', param=f"{where}.content")
    return {"role": role, "content": content}


def _generate(backend: LocalHF, conversation: list[dict], prefill: str,
              max_tokens: int) -> Completion:
    """One greedy answer with this request's prefill and length; the caller holds the lock."""
    settings = replace(backend.settings, prefill=prefill, max_new_tokens=max_tokens)
    return backend.complete([conversation], settings)[0]
