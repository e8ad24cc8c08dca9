"""A client for any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp, hosted APIs).

Standard library only. The API key is read from an environment variable at each call and sent
as a bearer token to ``base_url`` only (redirects are not followed); it is never stored on the
object, printed, logged, or written to the cache (a server that echoes it gets it redacted).
Failures are per conversation: each becomes a ``Completion`` with ``error`` set, and the run
goes on.
"""
from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from digr_utils.interests.backends import Completion

_log = logging.getLogger(__name__)

#: How many requests are in flight at once when a client is built without ``concurrency``
#: (``digr mine --interests openai`` builds it so); the environment variable overrides it.
DEFAULT_CONCURRENCY = 8
CONCURRENCY_ENV = "DIGR_LLM_CONCURRENCY"

#: The longest a server's Retry-After is obeyed, so one busy server cannot stall a run for hours.
MAX_RETRY_WAIT = 60.0

_EXCERPT = 200  # characters of an error body quoted in a message


class _Transient(Exception):
    """A failure worth retrying: no connection, a timeout, HTTP 429 or 5xx."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait  # the server's Retry-After, in seconds, when it sent one


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib would resend the Authorization header to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()
        raise ValueError(f"{req.full_url} redirects (HTTP {code}) to {newurl}; not followed, so "
                         "the API key goes nowhere but base_url: if you trust that address, "
                         "set base_url to it")


# urlopen's default opener follows redirects (a 302 to another host with the key); this one never
_OPENER = urllib.request.build_opener(_NoRedirects)


class OpenAICompatible:
    """Chat completions from a server at ``base_url`` (ending in ``/v1``, e.g. ``http://localhost:8000/v1``).

    ``concurrency`` requests are in flight at most (None: ``$DIGR_LLM_CONCURRENCY``, else
    :data:`DEFAULT_CONCURRENCY`); a server that batches (vLLM) answers many at once, one that
    does not (``digr serve-llm``) gains little. Each is retried ``max_retries`` times with
    exponential backoff (``backoff``, 2×, 4×… seconds, or the server's Retry-After, capped at
    ``MAX_RETRY_WAIT``) after a connection error, a timeout, HTTP 429 or 5xx; other 4xx are not
    retried. ``prefill`` starts the answer: it is sent as a trailing assistant message and put in
    front of the returned text. ``digr serve-llm``, llama.cpp and Ollama continue such a message;
    vLLM needs ``continue_final_message`` and hosted APIs may start a fresh answer instead.
    The key is read from ``$api_key_env`` at each call; none is sent when that is unset or None.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0,
                 concurrency: int | None = None, max_tokens: int = 256, temperature: float = 0.0,
                 prefill: str | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"OpenAICompatible: base_url {base_url!r} must start with http:// or "
                             "https://, e.g. http://localhost:8000/v1")
        if concurrency is None:
            concurrency = _concurrency_from_env()
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("OpenAICompatible: needs concurrency >= 1, max_retries >= 0 and "
                             f"timeout > 0 (got {concurrency}, {max_retries}, {timeout})")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.concurrency = concurrency
        self.max_tokens, self.temperature, self.prefill = max_tokens, temperature, prefill

    def __repr__(self) -> str:
        return (f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r})")

    def settings_tag(self) -> str:
        settings = [self.max_tokens, self.temperature, self.prefill]
        return hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:8]

    def complete(self, conversations: list[list[dict]]) -> list[Completion]:
        """One completion per conversation, in order; at most ``concurrency`` requests at once."""
        if len(conversations) <= 1:
            return [self._complete_one(c) for c in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(self._complete_one, conversations))

    def _complete_one(self, conversation: list[dict]) -> Completion:
        messages = list(conversation)
        if self.prefill:
            messages.append({"role": "assistant", "content": self.prefill})
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "temperature": self.temperature, "stream": False}).encode()
        key = (os.environ.get(self.api_key_env) or "").strip() if self.api_key_env else ""
        if not (key.isascii() and key.isprintable()):
            return Completion(error=f"${self.api_key_env} holds characters that cannot go in an "
                                    "HTTP header; set it to the key alone")
        try:
            answer = self._post_with_retries(body, key)
            return self._completion(answer, key)
        except (_Transient, ValueError) as err:
            return Completion(error=_scrub(str(err), key))

    def _post_with_retries(self, body: bytes, key: str) -> bytes:
        attempt = 0
        while True:
            try:
                return self._post(body, key)
            except _Transient as err:
                if attempt == self.max_retries:
                    raise _Transient(f"{err} (after {attempt + 1} tries)") from None
                wait = min(self.backoff * 2 ** attempt if err.wait is None else err.wait,
                           MAX_RETRY_WAIT)
                _log.info("%s; retrying in %.1f s", _scrub(str(err), key), wait)
                time.sleep(wait)
                attempt += 1

    def _post(self, body: bytes, key: str) -> bytes:
        """One request; raises ``_Transient`` (retry) or ``ValueError`` (give up)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            excerpt = _excerpt(err.read())
            message = f"HTTP {err.code} from {self.url}: {excerpt}"
            if err.code == 429 or err.code >= 500:
                raise _Transient(message, _retry_after(err.headers.get("Retry-After"))) from None
            raise ValueError(message + _hint(err.code, self.api_key_env)) from None
        except urllib.error.URLError as err:
            raise _Transient(self._unreachable(err.reason)) from None
        except TimeoutError:
            raise _Transient(f"no answer from {self.url} within {self.timeout:g} s; raise "
                             "timeout= or lower concurrency=") from None
        except (OSError, http.client.HTTPException) as err:  # reset or dropped mid-answer
            raise _Transient(f"connection to {self.url} failed: {type(err).__name__}: {err}") from None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            return (f"could not reach {self.url}: connection refused; is the server running? "
                    "start one with `digr serve-llm`")
        if isinstance(reason, TimeoutError):
            return (f"no answer from {self.url} within {self.timeout:g} s; raise timeout= or "
                    "lower concurrency=")
        return f"could not reach {self.url}: {reason}; check the base URL"

    def _completion(self, raw: bytes, key: str) -> Completion:
        try:
            answer = json.loads(raw)
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"malformed answer from {self.url}: expected JSON with "
                             f"choices[0].message.content, got {_excerpt(raw)}") from None
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"empty answer from {self.url} (content {content!r})")
        usage = answer.get("usage") if isinstance(answer, dict) else None
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        prefill = self.prefill or ""
        # a server that ignored the trailing assistant turn may repeat the prefill itself
        text = content if prefill and content.startswith(prefill) else prefill + content
        return Completion(_scrub(text, key), tokens=tokens if isinstance(tokens, int) else 0)


def _concurrency_from_env() -> int:
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"${CONCURRENCY_ENV}={raw!r} is not a whole number; set it to how many "
                         "requests may be in flight at once, e.g. 8") from None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _hint(status: int, api_key_env: str | None) -> str:
    if status in (401, 403):
        if api_key_env:
            return f"; check the key in ${api_key_env}"
        return "; the server wants a key: name its environment variable in api_key_env="
    if status == 404:
        return "; check the model name and that the base URL ends in /v1"
    return ""


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return repr(text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")) if text else "(empty body)"


def _scrub(message: str, key: str) -> str:
    """Never let the key through, even if a server echoes it back in an answer or an error."""
    return message.replace(key, "***") if key else message
