"""FinBERT benchmark: the project's CPU path against plain fp32 eager transformers.

A BERT-base-shaped classifier (``BertConfig()`` defaults, FinBERT's three labels) with
random weights is built once and saved to a temporary directory; the optimised side loads it
through :func:`sentiment.finbert.load_finbert` exactly as production does (CPU, the
default settings: int8, 2 threads), the eager side through
``AutoModelForSequenceClassification.from_pretrained`` with nothing changed. Both tokenize
the same texts with the same tokenizer and are timed interleaved in one run, batch 1 on a
~32-token post; then a batch of 32 posts of mixed length, and batch 1 again while another
Python thread spins (as an event loop with work does).

    python bench/finbert.py [--repeats 40] [--json PATH]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.sentiment.finbert import FinbertModel, MicroBatcher, load_finbert
from stocktracker.streams.core.settings import SentimentSettings

FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}
POST = ("$SPY ripping through 590 on heavy volume, loading more 0dte calls before the close, "
        "bears getting squeezed hard again today, 600 by friday for sure 🚀")
BATCH = [
    "$SPY calls printing", "puts are dead money, this market only goes up",
    "fed minutes at 2pm, expect chop until then", "bagholding $SPY 600c, please save me",
    "rug pull incoming, vix spiking and breadth is terrible", "bought the dip on $SPY",
    "sold my puts for a 300% gain, thank you powell", "no idea where this goes, sitting out today",
    "massive put wall at 585, dealers will pin us there into the close",
    "cpi hotter than expected, futures dumping", "green day, calls up big 📈",
    "🌈🐻 crying again", "theta is eating my calls alive", "$SPY breaking out, loading calls 🚀",
    "earnings season is going to be brutal for tech, i am short",
    "watching $SPY today", "volume is dead, nothing happening",
    "if we lose 588 it is over for the bulls, next stop 580",
    "strong jobs report, bond yields falling, stocks rallying", "moon mission 🚀🚀🚀",
    "took profits on half, letting the rest ride", "this is the top, mark my words",
    "bears r fuk", "bought 10 contracts of 0dte puts",
    "market makers hunting stops below the vwap again", "sideways all day, boring",
    "gap up tomorrow for sure", "i lost everything on puts this week",
    "the trend is your friend until the bend at the end",
    "recession fears are overblown, consumer spending still strong", "stay safe out there",
    "hold the line 💎🙌",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@functools.cache
def model_dir() -> Path:
    """The random BERT-base, saved once per process (removed at exit)."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    tmp = tempfile.TemporaryDirectory(prefix="finbert-bench-")
    atexit.register(tmp.cleanup)
    path = Path(tmp.name)
    words = sorted({w for t in [POST, *BATCH] for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    chars = sorted({c for w in words for c in w})
    vocab = [*SPECIAL, *chars, *(f"##{c}" for c in chars), *(w for w in words if w not in chars)]
    config = BertConfig(id2label=FINBERT_LABELS,
                        label2id={v: k for k, v in FINBERT_LABELS.items()})
    vocab += [f"[unused{i}]" for i in range(config.vocab_size - len(vocab))]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def production_settings(path: Path) -> SentimentSettings:
    """The default sentiment settings, pointed at ``path``, on CPU."""
    return SentimentSettings(finbert="on", finbert_path=path, finbert_device="cpu")


def optimised_model() -> FinbertModel:
    """The random BERT-base loaded as production loads FinBERT."""
    model = load_finbert(production_settings(model_dir()))
    assert model is not None
    return model


def optimised_batcher() -> MicroBatcher[ModelAnswer]:
    """The optimised model behind the micro-batcher with the default settings."""
    s = production_settings(model_dir())
    return MicroBatcher(optimised_model().predict, s.finbert_batch_max, s.finbert_batch_wait_ms)


def eager_predict(path: Path, max_tokens: int) -> Callable[[list[str]], torch.Tensor]:
    """Plain transformers: fp32, default attention, no quantisation; probabilities out."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()

    def predict(texts: list[str]) -> torch.Tensor:
        enc = tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        with torch.inference_mode():
            return model(**enc).logits.softmax(-1)

    return predict


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _beside_busy_thread(fn: Callable[[], object], repeats: int) -> float:
    """Median ms of ``fn`` while another Python thread spins (an event loop with work to do)."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        return _median_ms([_timed(fn) for _ in range(repeats)])
    finally:
        stop.set()
        thread.join()


def measure(repeats: int = 40) -> dict[str, float]:
    """Median latencies at batch 1 (interleaved), batched throughput, and the int8 drift."""
    path = model_dir()
    settings = production_settings(path)
    optimised = optimised_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = eager_predict(path, settings.finbert_max_tokens)
    one = [POST]
    for _ in range(3):
        optimised.predict(one), eager(one)
    opt_s: list[float] = []
    eager_s: list[float] = []
    for i in range(repeats):  # interleaved, alternating who goes first
        pair = [(opt_s, lambda: optimised.predict(one)), (eager_s, lambda: eager(one))]
        for samples, fn in pair if i % 2 == 0 else pair[::-1]:
            samples.append(_timed(fn))
    optimised.predict(BATCH), eager(BATCH)  # warm: first calls at a new shape are slower
    batch_opt = [_timed(lambda: optimised.predict(BATCH)) for _ in range(max(3, repeats // 8))]
    batch_eager = [_timed(lambda: eager(BATCH)) for _ in range(3)]
    beside_busy = _beside_busy_thread(lambda: optimised.predict(one), max(5, repeats // 4))
    probs = eager(BATCH)
    answers = optimised.predict(BATCH)
    drift = max(abs(a.score - float(p[0] - p[1])) for a, p in zip(answers, probs, strict=True))
    tokens = optimised._tokenizer(one)["input_ids"].shape[1]
    return {
        "finbert_speedup_vs_eager": _median_ms(eager_s) / _median_ms(opt_s),
        "finbert_ms_batch1_optimised": _median_ms(opt_s),
        "finbert_ms_batch1_eager": _median_ms(eager_s),
        "finbert_batched_texts_per_s": len(BATCH) / statistics.median(batch_opt),
        "finbert_batched_texts_per_s_eager": len(BATCH) / statistics.median(batch_eager),
        "finbert_batch1_tokens": float(tokens),
        "finbert_int8_max_score_drift": drift,
        "finbert_ms_batch1_beside_busy_thread": beside_busy,
        "finbert_threads": float(torch.get_num_threads()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = measure(args.repeats)
    print(f"\nFinBERT on CPU ({int(figures['finbert_threads'])} threads), BERT-base shape, random weights;"
          f" batch 1 = {int(figures['finbert_batch1_tokens'])} tokens, interleaved medians")
    rows = [
        ("batch 1: optimised vs fp32 eager", "finbert_speedup_vs_eager", ">= 4x"),
        ("batch 1 optimised, ms", "finbert_ms_batch1_optimised", ""),
        ("batch 1 fp32 eager, ms", "finbert_ms_batch1_eager", ""),
        (f"batch {len(BATCH)} optimised, texts/s", "finbert_batched_texts_per_s", ""),
        (f"batch {len(BATCH)} fp32 eager, texts/s", "finbert_batched_texts_per_s_eager", ""),
        ("batch 1 optimised beside a busy thread, ms", "finbert_ms_batch1_beside_busy_thread", ""),
        ("int8 vs fp32: largest score difference", "finbert_int8_max_score_drift", ""),
    ]
    print(f"{'figure':<42} {'value':>10}  goal")
    for label, key, goal in rows:
        print(f"{label:<42} {figures[key]:>10,.3f}  {goal}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
