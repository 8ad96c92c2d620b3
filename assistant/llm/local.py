"""In-process transformers generator over the packaged GGUF: load, cache, quantise, decode.

Why a hand-written greedy loop instead of `model.generate` + TextIteratorStreamer: it needs no
extra thread per request, makes one forward call per token with no logits-processor overhead,
and lets us stream text as soon as a token completes a printable piece.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from assistant.llm.model_files import MODELS, model_path

if TYPE_CHECKING:  # torch/transformers cost seconds to import; keep `assistant.llm` import cheap
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from retrieval.settings import Settings

log = logging.getLogger(__name__)

Quantize = Literal["none", "int8"]
_CACHE_MARKER = "shopassist-cache.json"
_CACHE_VERSION = 1


@dataclass
class GenerationStats:
    """Timings of the last generation, for logs and the bench."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_s: float = 0.0  # prefill + first token
    total_s: float = 0.0

    @property
    def decode_tok_s(self) -> float:
        steady = self.total_s - self.ttft_s
        return (self.new_tokens - 1) / steady if self.new_tokens > 1 and steady > 0 else 0.0


def cache_dir_for(gguf: Path, sha256: str, models_dir: Path) -> Path:
    """models_dir/<gguf stem>-<sha12>: a new pinned file gets a new cache, never a stale one."""
    return models_dir / f"{gguf.stem}-{sha256[:12]}"


def _save_converted(model: PreTrainedModel, tok: PreTrainedTokenizerBase, dest: Path) -> None:
    """Save a GGUF-loaded model as plain safetensors (save_pretrained refuses GGUF models).

    Written to a sibling temp dir and renamed, so a crash never leaves a half cache behind.
    """
    from safetensors.torch import save_model

    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # else from_pretrained would look for a GGUF again
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    model.generation_config.save_pretrained(tmp)
    save_model(model, str(tmp / "model.safetensors"))  # handles the tied lm_head/embeddings
    tok.save_pretrained(tmp)
    (tmp / _CACHE_MARKER).write_text(json.dumps({"version": _CACHE_VERSION}))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _cache_ok(path: Path) -> bool:
    try:
        return json.loads((path / _CACHE_MARKER).read_text()).get("version") == _CACHE_VERSION
    except (OSError, ValueError):
        return False


def load_model(
    model_key: str, models_dir: Path
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, float | bool]]:
    """Verified GGUF -> fp32 transformers model + tokenizer, through the converted-weights cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = model_path(model_key, models_dir)
    cache = cache_dir_for(gguf, MODELS[model_key].sha256, models_dir)
    t0 = time.perf_counter()
    if _cache_ok(cache):
        model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(cache))
        from_cache = True
    else:
        log.info("converting %s (one-off, then cached in %s)", gguf.name, cache)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        try:
            _save_converted(model, tok, cache)
        except OSError as e:  # a read-only data dir should not stop the app
            log.warning("could not cache converted weights in %s: %s", cache, e)
        from_cache = False
    model.eval()
    load_s = time.perf_counter() - t0
    log.info("loaded %s in %.1fs (from cache: %s)", model_key, load_s, from_cache)
    return model, tok, {"load_s": load_s, "from_cache": from_cache}


def _int8_linear_cls() -> type:
    """Build the module class lazily so importing this file does not import torch."""
    import torch

    class _Int8WeightOnlyLinear(torch.nn.Module):
        """y = x @ (int8 W * per-row scale)^T via torch's int8 weight-pack kernel.

        Kept for the bench: it preserves fp32's greedy tokens (dynamic quantisation also rounds
        activations, per tensor, and changed SmolLM2's answer on 3 of 4 test prompts), but the
        kernel is slow on AVX2 CPUs, so it is not the default.
        """

        weight_int8: torch.Tensor  # buffers, registered in __init__
        scales: torch.Tensor

        def __init__(self, lin: torch.nn.Linear) -> None:
            super().__init__()
            w = lin.weight.detach().float()
            scales = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
            q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            self.register_buffer("weight_int8", q)
            self.register_buffer("scales", scales)
            self.bias = None if lin.bias is None else lin.bias.detach().clone()
            self.in_features, self.out_features = lin.in_features, lin.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, x.shape[-1])
            y = torch._weight_int8pack_mm(flat, self.weight_int8, self.scales.to(x.dtype))
            y = y.reshape(*x.shape[:-1], self.out_features)
            return y if self.bias is None else y + self.bias

    return _Int8WeightOnlyLinear


INT8_METHODS = ("dynamic", "dynamic_per_channel", "weight_only")


def quantize_int8(model: torch.nn.Module, method: str = "dynamic") -> torch.nn.Module:
    """Replace every nn.Linear (lm_head included) by an int8 version, in place.

    "dynamic": torch.ao quantize_dynamic, int8 weights (per tensor) and activations; the only
        lever that was clearly faster here (~2.4-2.9x fp32 decode). Its greedy answers differ
        from fp32's, usually from the first token.
    "dynamic_per_channel": the same kernels with per-output-channel weight scales.
    "weight_only": int8 weights, fp32 activations (torch._weight_int8pack_mm). It matches fp32
        tokens best, but on this AVX2 CPU it decoded slower than fp32 and prefilled ~15x slower.
    """
    import torch

    if method in ("dynamic", "dynamic_per_channel"):
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec: Any = {torch.nn.Linear}
        if method == "dynamic_per_channel":
            spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
        with warnings.catch_warnings():  # torch.ao quantisation is deprecated upstream but works
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    if method != "weight_only":
        raise ValueError(f"unknown int8 method {method!r}; choose one of {INT8_METHODS}")
    cls = _int8_linear_cls()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, cls(child))
    return model


@dataclass
class LocalGenerator:
    """Greedy, deterministic, thread-safe generation with the local model.

    One generation runs at a time (a lock): two concurrent decodes on 2 cores would each run at
    half speed and share one model's memory bandwidth, so queueing costs nothing in throughput.
    """

    model_key: str = "smollm2"
    models_dir: Path = Path("data/models")
    quantize: Quantize = "int8"
    int8_method: str = "dynamic"
    threads: int = 2
    max_new_tokens: int = 160
    stats: GenerationStats = field(default_factory=GenerationStats)
    load_info: dict[str, float | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        self._tok: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalGenerator:
        return cls(
            model_key=settings.llm_local_model,
            models_dir=settings.models_dir,
            quantize=settings.llm_quantize,
            threads=settings.llm_threads,
            max_new_tokens=settings.llm_max_new_tokens,
        )

    def load(self) -> LocalGenerator:
        """Load now (otherwise the first request does). Idempotent."""
        with self._lock:
            self._ensure_loaded()
        return self

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        import torch

        torch.set_num_threads(self.threads)
        model, tok, info = load_model(self.model_key, self.models_dir)
        if self.quantize == "int8":
            t = time.perf_counter()
            model = cast("PreTrainedModel", quantize_int8(model, self.int8_method))
            info["quantize_s"] = time.perf_counter() - t
        self._model, self._tok, self.load_info = model, tok, info
        # Stop on the template's end-of-turn token as well as EOS (they differ for Qwen).
        eos = self._model.generation_config.eos_token_id
        stop = {tok.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
        im_end = tok.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != tok.unk_token_id:
            stop.add(im_end)
        self._stop_ids = {i for i in stop if isinstance(i, int)}

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tok is None:  # no lock once loaded: rendering must not wait for a generation
            self.load()
        return self._tok

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """Apply the model's own chat template, ending with the assistant turn's header."""
        text = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        assert isinstance(text, str)  # tokenize=False
        return text

    def generate(self, prompt: str, max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(prompt, max_new_tokens))

    def stream(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield text pieces of the greedy continuation of `prompt` (already templated).

        The lock is held for the whole generation, including while the consumer handles each
        piece; abandon the iterator (close()) to release it early.
        """
        with self._lock:
            self._ensure_loaded()
            yield from self._decode(prompt, max_new_tokens or self.max_new_tokens, stop or ())

    def _decode(self, prompt: str, max_new: int, stop: Sequence[str]) -> Iterator[str]:
        import torch

        torch.set_num_threads(self.threads)  # another library may have changed it since load
        model, tok = self._model, self._tok
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        st = self.stats = GenerationStats(prompt_tokens=int(ids.shape[1]))
        t0 = time.perf_counter()
        out: list[int] = []
        emitted, text = "", ""
        with torch.inference_mode():
            for nxt in itertools.islice(greedy_tokens(model, ids), max_new):
                if not out:
                    st.ttft_s = time.perf_counter() - t0
                if nxt in self._stop_ids:
                    break
                out.append(nxt)
                st.new_tokens = len(out)
                # Decode the whole tail each time: BPE pieces only become text in context, and a
                # multi-byte character may span tokens (shown as U+FFFD until complete).
                text = tok.decode(out, skip_special_tokens=True)
                if text.endswith("\ufffd"):
                    continue
                hit = _first_stop(text, stop)
                if hit is not None:
                    text = text[:hit]
                    break
                # Hold back a tail that could be the start of a stop string.
                safe = len(text) - _stop_prefix_len(text, stop)
                if safe > len(emitted):
                    yield text[len(emitted) : safe]
                    emitted = text[:safe]
        if len(text) > len(emitted):  # flush what was held back (stop-string prefix, etc.)
            yield text[len(emitted) :]
        st.total_s = time.perf_counter() - t0
        log.debug(
            "generated %d tokens (prompt %d) ttft %.2fs, %.1f tok/s",
            st.new_tokens,
            st.prompt_tokens,
            st.ttft_s,
            st.decode_tok_s,
        )


def greedy_tokens(model: Any, ids: Any) -> Iterator[int]:
    """Greedy decoding over the model's KV cache: each next token id, for as long as the caller
    asks. `ids` is the prompt's (1, n) token tensor; run it under `torch.inference_mode()`."""
    import torch

    cache = None
    while True:
        res = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        cache = res.cache
        nxt = int(res.logits[0, -1].argmax())
        yield nxt
        ids = torch.tensor([[nxt]])


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    hits = [i for s in stop if (i := text.find(s)) >= 0]
    return min(hits) if hits else None


def _stop_prefix_len(text: str, stop: Sequence[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
    best = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best
