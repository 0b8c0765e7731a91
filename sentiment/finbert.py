"""FinBERT (``ProsusAI/finbert``): local weights, a lean int8 forward on CPU, fp16 on a GPU.

Weights come from ``SENTIMENT_FINBERT_PATH`` or from the local Hugging Face cache; nothing is
ever downloaded. On CPU the model runs with a fixed thread count and int8 dynamic
quantisation of its Linear layers (per-channel weights, fbgemm kernels), through a lean
encoder that runs the same BERT arithmetic as transformers with the query, key and value
projections fused into one matmul, padding tokens left out of the per-token work, and the
whole forward traced so that it takes the GIL once instead of once per op; on a GPU in fp16.
Labels are read from the model's ``id2label`` by name, never by index. Callers share the
model through :class:`~sentiment.batcher.MicroBatcher`.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.sentiment.batcher import BatcherStopped, MicroBatcher
from stocktracker.streams.core.settings import SentimentSettings

__all__ = ["BatcherStopped", "FinbertModel", "FinbertUnavailable", "MicroBatcher", "find_weights",
           "hub_cache_dir", "load_finbert"]

log = logging.getLogger(__name__)

_CONFIG = "config.json"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")
_LABELS = {"positive": "bullish", "bullish": "bullish", "negative": "bearish", "bearish": "bearish",
           "neutral": "neutral"}
_HOW = "set SENTIMENT_FINBERT_PATH to a directory with the weights, or SENTIMENT_FINBERT=off"


class FinbertUnavailable(RuntimeError):
    """FinBERT was required (``SENTIMENT_FINBERT=on``) or pointed at, and cannot be loaded."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment as it is now (not at import)."""
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache").expanduser() / "huggingface" / "hub"


def _has_weights(directory: Path) -> bool:
    return (directory / _CONFIG).is_file() and any((directory / w).is_file() for w in _WEIGHTS)


def find_weights(settings: SentimentSettings) -> Path | None:
    """The directory holding FinBERT's config and weights, or None when there is none.

    ``finbert_path`` wins when set; else ``finbert_model`` is looked up in the local Hugging
    Face cache (``HF_HUB_CACHE``, ``HF_HOME``), revision ``main``. Never touches the network.

    Raises
    ------
    FinbertUnavailable
        When ``finbert_path`` is set but holds no config and weights.
    """
    if settings.finbert_path is not None:
        path = settings.finbert_path.expanduser()
        if not _has_weights(path):
            raise FinbertUnavailable(
                f"SENTIMENT_FINBERT_PATH={path} holds no {_CONFIG} with weights ({', '.join(_WEIGHTS)});"
                f" point it at a saved model directory, or set SENTIMENT_FINBERT=off")
        return path
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(settings.finbert_model, _CONFIG, cache_dir=hub_cache_dir())
    if not isinstance(found, str):  # None, or the "known not to exist" marker
        return None
    snapshot = Path(found).parent
    return snapshot if _has_weights(snapshot) else None


class FinbertModel:
    """A sequence classifier with FinBERT's labels, answering :class:`ModelAnswer` s.

    Build it with :meth:`load`. ``predict`` is synchronous (one forward pass) and meant to
    run in the micro-batcher's worker thread.
    """

    name = "finbert"

    def __init__(self, tokenizer: Callable[..., dict[str, torch.Tensor]],
                 forward: Callable[..., torch.Tensor], id2label: dict[int, str],
                 device: torch.device, threads: int, max_tokens: int) -> None:
        self._labels = _our_labels(id2label)
        self._tokenizer = tokenizer
        self._forward = forward
        self._pos = self._labels.index("bullish")
        self._neg = self._labels.index("bearish")
        self.device = device
        self.threads = threads
        self.max_tokens = max_tokens

    @classmethod
    def load(cls, path: Path | str, *, device: str = "auto", threads: int = 2, quantize: bool = True,
             max_tokens: int = 64) -> FinbertModel:
        """Load a saved model directory (config, weights, tokenizer); never downloads.

        Parameters
        ----------
        path:
            A directory as ``save_pretrained`` writes it (a hub snapshot is one).
        device:
            ``auto`` (CUDA when torch sees it, else CPU), ``cpu`` or ``cuda``.
        threads:
            torch's intra-op threads on CPU.
        quantize:
            int8 dynamic quantisation of the Linear layers on CPU (ignored on a GPU).
        max_tokens:
            Texts are truncated to this many tokens.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise FinbertUnavailable("SENTIMENT_FINBERT_DEVICE=cuda but torch sees no CUDA device;"
                                     " set it to auto or cpu")
        dev = torch.device(device)
        if dev.type == "cpu":
            torch.set_num_threads(threads)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        hf = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, dtype=torch.float32, attn_implementation="sdpa").eval()
        id2label = {int(i): str(n) for i, n in hf.config.id2label.items()}
        _our_labels(id2label)  # refuse a model without sentiment labels before any work
        max_tokens = min(max_tokens, hf.config.max_position_embeddings)
        module: nn.Module = _LeanBert(hf) if _LeanBert.fits(hf) else _HFProbs(hf)
        encode = _encoder(tokenizer, max_tokens)
        forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = module
        if dev.type == "cuda":
            forward = module.to(dev, dtype=torch.float16).eval()
        else:
            module = (_int8(module) if quantize else module).eval()
            forward = _traced(module, encode) if isinstance(module, _LeanBert) else module
        model = cls(encode, forward, id2label, dev, threads, max_tokens)
        model.predict(["warm up"])
        return model

    def predict(self, texts: list[str]) -> list[ModelAnswer]:
        """One forward pass over ``texts``, padded to the longest, truncated to ``max_tokens``."""
        if not texts:
            return []
        started = time.perf_counter_ns()
        if self.device.type == "cpu" and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)  # something else in the process changed it
        batch = self._tokenizer(texts)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        with torch.inference_mode():  # each torch call from Python is a GIL hand-off: few of them
            if self.device.type == "cpu":
                probs = self._forward(ids, mask).tolist()
            else:
                probs = self._forward(ids.to(self.device), mask.to(self.device)).cpu().tolist()
        latency_us = (time.perf_counter_ns() - started) // 1000
        return [self._answer(p, latency_us) for p in probs]

    def _answer(self, probs: list[float], latency_us: int) -> ModelAnswer:
        top = max(range(len(probs)), key=probs.__getitem__)
        score = max(-1.0, min(1.0, probs[self._pos] - probs[self._neg]))
        extra = {"p_positive": probs[self._pos], "p_negative": probs[self._neg]}
        return ModelAnswer(self.name, score, min(1.0, probs[top]), self._labels[top], latency_us,
                           extra=extra)


def load_finbert(settings: SentimentSettings) -> FinbertModel | None:
    """FinBERT as the settings ask: None when off, or when ``auto`` finds no weights.

    Raises
    ------
    FinbertUnavailable
        ``SENTIMENT_FINBERT=on`` without weights, or ``SENTIMENT_FINBERT_PATH`` set wrongly.
    """
    if settings.finbert == "off":
        return None
    path = find_weights(settings)
    if path is None:
        where = f"{settings.finbert_model} is not in the Hugging Face cache at {hub_cache_dir()}"
        if settings.finbert == "on":
            raise FinbertUnavailable(f"SENTIMENT_FINBERT=on but {where}; {_HOW}")
        log.info("FinBERT not used: %s; set SENTIMENT_FINBERT_PATH to use it", where)
        return None
    model = FinbertModel.load(path, device=settings.finbert_device, threads=settings.finbert_threads,
                              quantize=settings.finbert_quantize, max_tokens=settings.finbert_max_tokens)
    log.info("FinBERT loaded from %s on %s%s", path, model.device,
             " (int8)" if model.device.type == "cpu" and settings.finbert_quantize else "")
    return model


def _our_labels(id2label: dict[int, str]) -> list[str]:
    """The model's labels by index, in our words; every model must have the three."""
    labels = [_LABELS.get(id2label.get(i, "").lower(), "") for i in range(len(id2label))]
    if sorted(labels) != ["bearish", "bullish", "neutral"]:
        raise FinbertUnavailable(f"the model's labels {id2label} are not positive/negative/neutral;"
                                 f" {_HOW}")
    return labels


def _encoder(tokenizer: Callable[..., dict[str, torch.Tensor]],
             max_tokens: int) -> Callable[[list[str]], dict[str, torch.Tensor]]:
    """Texts to tensors: dynamic padding to the longest, truncation to ``max_tokens``."""

    def encode(texts: list[str]) -> dict[str, torch.Tensor]:
        return tokenizer(texts, padding=True, truncation=True, max_length=max_tokens,
                         return_tensors="pt", return_token_type_ids=False)

    return encode


class _HFProbs(nn.Module):
    """Any sequence classifier through transformers' forward (models the lean path does not fit)."""

    def __init__(self, hf: Any) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=ids, attention_mask=mask).logits.float().softmax(-1)


class _Layer(nn.Module):
    """One BERT encoder layer with the query/key/value projections fused."""

    def __init__(self, layer: Any) -> None:
        super().__init__()
        attn = layer.attention.self
        parts = (attn.query, attn.key, attn.value)
        self.qkv = nn.Linear(attn.query.in_features, 3 * attn.query.out_features)
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([p.weight for p in parts]))
            self.qkv.bias.copy_(torch.cat([p.bias for p in parts]))
        self.heads = attn.num_attention_heads
        self.out, self.norm1 = layer.attention.output.dense, layer.attention.output.LayerNorm
        self.up, self.down = layer.intermediate.dense, layer.output.dense
        self.norm2 = layer.output.LayerNorm

    def forward(self, x: torch.Tensor, batch: int, length: int, mask: torch.Tensor | None,
                keep: torch.Tensor | None) -> torch.Tensor:
        """``x``: (tokens, hidden), the real tokens only when ``keep`` (their flat indices) is given."""
        h = x.shape[-1]
        qkv = self.qkv(x)
        if keep is not None:  # attention needs the padded layout back
            qkv = qkv.new_zeros(batch * length, 3 * h).index_copy_(0, keep, qkv)
        q, k, v = qkv.view(batch, length, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(-1, h)
        if keep is not None:
            a = a.index_select(0, keep)
        x = self.norm1(self.out(a) + x)
        return self.norm2(self.down(F.gelu(self.up(x))) + x)


class _LeanBert(nn.Module):
    """BertForSequenceClassification's inference arithmetic, in few modules; probabilities out."""

    def __init__(self, hf: Any) -> None:
        super().__init__()
        self.embeddings = hf.bert.embeddings
        self.layers = nn.ModuleList(_Layer(layer) for layer in hf.bert.encoder.layer)
        self.pooler, self.classifier = hf.bert.pooler.dense, hf.classifier

    @staticmethod
    def fits(hf: Any) -> bool:
        """True for the plain BERT classifiers (FinBERT is one) whose arithmetic this repeats."""
        c = hf.config
        return (type(hf).__name__ == "BertForSequenceClassification" and c.model_type == "bert"
                and c.hidden_act == "gelu" and not c.is_decoder
                and c.problem_type != "multi_label_classification"
                and getattr(c, "position_embedding_type", "absolute") == "absolute"
                and getattr(hf.bert, "pooler", None) is not None)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.dense(ids) if bool(mask.all()) else self.packed(ids, mask)

    def dense(self, ids: torch.Tensor) -> torch.Tensor:
        """Texts of one length (no padding): batch 1 always is."""
        x = self.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        batch, length, hidden = x.shape
        x = x.reshape(batch * length, hidden)
        for layer in self.layers:
            x = layer(x, batch, length, None, None)
        return self._head(x.reshape(batch, length, hidden)[:, 0])

    def packed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Padded texts: the per-token work (matmuls, norms) runs on the real tokens only; the
        attention runs padded, the padding's keys masked with the dtype's lowest value."""
        x = self.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        batch, length, hidden = x.shape
        additive = ((1 - mask[:, None, None, :]) * torch.finfo(x.dtype).min).to(x.dtype)
        keep = mask.reshape(-1).nonzero().squeeze(1)
        x = x.reshape(batch * length, hidden).index_select(0, keep)
        for layer in self.layers:
            x = layer(x, batch, length, additive, keep)
        lengths = mask.sum(1)
        return self._head(x.index_select(0, lengths.cumsum(0) - lengths))  # each text's [CLS]

    def _head(self, cls: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.tanh(self.pooler(cls))).float().softmax(-1)


def _traced(module: _LeanBert, encode: Callable[[list[str]], dict[str, torch.Tensor]]
            ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Both paths traced to TorchScript, checked against the module; the module if that fails.

    Each eager op takes the GIL back from whatever Python runs beside it (the event loop);
    a traced forward holds it once. With a busy Python thread beside it, batch 1 took 1.9 s
    eager and 32 ms traced here. ``torch.jit`` is deprecated, but ``torch.export`` still runs
    op by op in Python and ``torch.compile`` needs a compiler at start-up.
    """
    one, two = encode(["warm up"]), encode(["warm up", "warm up the model , please"])
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace_module(module, {"dense": (one["input_ids"],),
                                                     "packed": (two["input_ids"], two["attention_mask"])})
            for check in (["a check of the trace"], ["a check", "a longer check of the trace"]):
                ids, mask = encode(check)["input_ids"], encode(check)["attention_mask"]
                got = traced.dense(ids) if len(check) == 1 else traced.packed(ids, mask)
                if not torch.allclose(got, module(ids, mask), atol=1e-4):
                    raise RuntimeError("the traced forward does not match the module")
    except Exception as exc:  # the eager module is as right, only slower beside a busy loop
        log.warning("FinBERT runs untraced: %r", exc)
        return module

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return traced.dense(ids) if bool(mask.all()) else traced.packed(ids, mask)

    return forward


def _int8(module: nn.Module) -> nn.Module:
    """int8 dynamic quantisation of every Linear (per-channel weights, fbgemm where it exists).

    ``torch.ao.quantization`` is deprecated in favour of torchao, whose int8 path is only fast
    under ``torch.compile``; in eager mode on CPU the fbgemm kernels are still the fast ones.
    Without them (a torch that dropped the module) the model runs in fp32.
    """
    try:
        from torch.ao.quantization import (
            default_dynamic_qconfig,
            per_channel_dynamic_qconfig,
            quantize_dynamic,
        )
    except ImportError:
        log.warning("FinBERT runs in fp32: this torch has no torch.ao.quantization")
        return module
    engines = torch.backends.quantized.supported_engines
    engine = "fbgemm" if "fbgemm" in engines else torch.backends.quantized.engine
    qconfig = default_dynamic_qconfig if engine == "qnnpack" else per_channel_dynamic_qconfig
    previous = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the module's deprecation notice, every call
        torch.backends.quantized.engine = engine
        try:
            return quantize_dynamic(module, {nn.Linear: qconfig}, inplace=False)
        finally:
            torch.backends.quantized.engine = previous
