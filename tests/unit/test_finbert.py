"""FinBERT on a tiny BERT trained here, loaded the way production loads ProsusAI/finbert.

The tiny model has FinBERT's label layout ({0: positive, 1: negative, 2: neutral}), its own
WordPiece vocabulary, and a few seconds of training on the posts below, so its answers have
a direction to check. It is saved with ``save_pretrained`` and found through
``SENTIMENT_FINBERT_PATH`` or a Hugging Face cache laid out as the hub leaves it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
)

from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.sentiment.finbert import (
    BatcherStopped,
    FinbertModel,
    FinbertUnavailable,
    MicroBatcher,
    find_weights,
    load_finbert,
)
from stocktracker.streams.core.settings import SentimentSettings
from tests.waiting import eventually_async

FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}
POSTS = {
    "bullish": ["moon rocket , calls", "green rally gains", "bulls buy the breakout"],
    "bearish": ["crash dump , puts", "red selloff losses", "bears sell the breakdown"],
    "neutral": ["lunch break now", "market opens at nine", "watching a chart"],
}
TEXTS = [t for texts in POSTS.values() for t in texts]
MAX_POSITIONS = 40


def _save_tiny(directory: Path, model: BertForSequenceClassification, vocab: Path,
               id2label: dict[int, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.config.id2label = id2label
    model.config.label2id = {v: k for k, v in id2label.items()}
    model.save_pretrained(directory)
    BertTokenizer(str(vocab)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FinBERT-shaped classifier, trained on POSTS, saved like a hub snapshot."""
    return build_tiny(tmp_path_factory.mktemp("tiny-finbert"))


def build_tiny(root: Path) -> Path:
    """Train and save the tiny FinBERT under ``root``; returns the model's directory."""
    words = sorted({w for t in TEXTS for w in t.split()} | {"filler"})
    chars = sorted({c for w in words for c in w})
    vocab = root / "vocab.txt"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    vocab.write_text("\n".join(tokens + [w for w in words if w not in tokens]) + "\n")
    tokenizer = BertTokenizer(str(vocab))  # (vocab_file in transformers 4, vocab in 5)
    torch.manual_seed(7)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=MAX_POSITIONS, id2label=FINBERT_LABELS)
    model = BertForSequenceClassification(config)
    names = {v: k for k, v in FINBERT_LABELS.items()}
    target = torch.tensor([names[{"bullish": "positive", "bearish": "negative"}.get(label, label)]
                           for label, texts in POSTS.items() for _ in texts])
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimiser.zero_grad()
        model(**batch, labels=target).loss.backward()
        optimiser.step()
    return _save_tiny(root / "model", model.eval(), vocab, FINBERT_LABELS)


@pytest.fixture(scope="module")
def fp32(tiny: Path) -> FinbertModel:
    return FinbertModel.load(tiny, device="cpu", quantize=False)


@pytest.fixture(scope="module")
def int8(tiny: Path) -> FinbertModel:
    model = load_finbert(settings(finbert_path=tiny))  # the defaults: int8 on CPU
    assert model is not None
    return model


def settings(**kw: object) -> SentimentSettings:
    base: dict[str, object] = {"finbert": "on", "finbert_path": None, "finbert_device": "cpu",
                               "finbert_threads": 2, "finbert_max_tokens": 32}
    return SentimentSettings(**{**base, **kw})  # type: ignore[arg-type]


def reference_probs(path: Path, texts: list[str]) -> torch.Tensor:
    """What plain transformers says: (positive, negative, neutral) probabilities per text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        enc = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
        probs = model(**enc).logits.softmax(-1)
    names = {str(v): int(k) for k, v in model.config.id2label.items()}
    return probs[:, [names["positive"], names["negative"], names["neutral"]]]


# Loading and answering ------------------------------------------------------------------


def test_answers_match_transformers_and_read_labels_by_name(tiny: Path) -> None:
    model = load_finbert(settings(finbert_path=tiny, finbert_quantize=False))
    assert model is not None and model.name == "finbert"
    answers = model.predict(TEXTS)  # one padded batch of different lengths
    ref = reference_probs(tiny, TEXTS)
    for answer, (pos, neg, neu) in zip(answers, ref.tolist(), strict=True):
        assert answer.model == "finbert" and answer.latency_us > 0
        assert answer.score == pytest.approx(pos - neg, abs=1e-5)
        assert answer.confidence == pytest.approx(max(pos, neg, neu), abs=1e-5)
        top = max((pos, "bullish"), (neg, "bearish"), (neu, "neutral"))[1]
        assert answer.label == top
    alone = [model.predict([t])[0] for t in TEXTS]  # padding changes nothing
    assert [a.score for a in alone] == pytest.approx([a.score for a in answers], abs=1e-5)


def test_the_trained_direction_comes_through(int8: FinbertModel) -> None:
    for label, texts in POSTS.items():
        for answer in int8.predict(texts):
            assert answer.label == label
            assert (answer.score > 0.5) if label == "bullish" else True
            assert (answer.score < -0.5) if label == "bearish" else True


def test_label_order_in_the_config_does_not_matter(tiny: Path, fp32: FinbertModel, tmp_path: Path) -> None:
    hf = BertForSequenceClassification.from_pretrained(tiny)
    order = [2, 0, 1]  # neutral, positive, negative
    with torch.no_grad():
        hf.classifier.weight.copy_(hf.classifier.weight[order])
        hf.classifier.bias.copy_(hf.classifier.bias[order])
    shuffled = _save_tiny(tmp_path / "shuffled", hf, tiny.parent / "vocab.txt",
                          {i: FINBERT_LABELS[j] for i, j in enumerate(order)})
    a = fp32.predict(TEXTS)
    b = FinbertModel.load(shuffled, device="cpu", quantize=False).predict(TEXTS)
    assert [x.label for x in a] == [x.label for x in b]
    assert [x.score for x in a] == pytest.approx([x.score for x in b], abs=1e-5)


def test_a_model_without_sentiment_labels_is_refused(tiny: Path, tmp_path: Path) -> None:
    hf = BertForSequenceClassification.from_pretrained(tiny)
    generic = {i: f"LABEL_{i}" for i in range(3)}
    other = _save_tiny(tmp_path / "generic", hf, tiny.parent / "vocab.txt", generic)
    with pytest.raises(FinbertUnavailable, match="SENTIMENT_FINBERT"):
        FinbertModel.load(other, device="cpu")


def test_int8_stays_close_to_fp32(fp32: FinbertModel, int8: FinbertModel) -> None:
    exact, quantised = fp32.predict(TEXTS), int8.predict(TEXTS)
    drift = max(abs(a.score - b.score) for a, b in zip(exact, quantised, strict=True))
    assert 0.0 < drift < 0.05  # quantised (not identical), and close
    assert [a.label for a in exact] == [b.label for b in quantised]


def test_long_posts_are_truncated_to_max_tokens(tiny: Path) -> None:
    model = FinbertModel.load(tiny, device="cpu", max_tokens=16)
    long_post = "moon rocket , calls " + "filler " * 300  # far past the 40 positions
    answers = model.predict([long_post, "lunch break now"])
    assert answers[0].label == "bullish" and answers[1].label == "neutral"
    assert model.predict([]) == []
    past_the_model = FinbertModel.load(tiny, device="cpu", max_tokens=512)  # held to its 40
    assert past_the_model.predict([long_post])[0].label == "bullish"


def test_cuda_is_used_when_asked_and_present(tiny: Path) -> None:
    if torch.cuda.is_available():
        answers = FinbertModel.load(tiny, device="cuda").predict(TEXTS)
        exact = FinbertModel.load(tiny, device="cpu", quantize=False).predict(TEXTS)
        assert [a.score for a in answers] == pytest.approx([a.score for a in exact], abs=1e-2)
    else:
        with pytest.raises(FinbertUnavailable, match="SENTIMENT_FINBERT_DEVICE"):
            load_finbert(settings(finbert_path=tiny, finbert_device="cuda"))


# Finding the weights --------------------------------------------------------------------


def _as_hub_cache(model: Path, hub: Path, repo: str = "ProsusAI/finbert") -> Path:
    """Lay ``model`` out as ProsusAI/finbert sits in a hub cache: its files (a pickled state
    dict and a plain vocab, as on the hub) in blobs/, linked from snapshots/<rev>/, refs/main.
    """
    revision = "0123456789abcdef0123456789abcdef01234567"
    root = hub / f"models--{repo.replace('/', '--')}"
    files = {"config.json": (model / "config.json").read_bytes(),
             "vocab.txt": (model.parent / "vocab.txt").read_bytes(),
             "tokenizer_config.json": json.dumps({"do_lower_case": True}).encode()}
    state = BertForSequenceClassification.from_pretrained(model).state_dict()
    snapshot = root / "snapshots" / revision
    for directory in (root / "blobs", snapshot, root / "refs"):
        directory.mkdir(parents=True)
    torch.save(state, root / "blobs" / "weights")
    (snapshot / "pytorch_model.bin").symlink_to(Path("..", "..", "blobs", "weights"))
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (root / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
    (root / "refs" / "main").write_text(revision)
    return snapshot


def test_weights_are_found_in_the_hub_cache(tiny: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = _as_hub_cache(tiny, tmp_path / "hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert find_weights(settings()) == snapshot
    model = load_finbert(settings())
    assert model is not None and model.predict(["moon rocket , calls"])[0].label == "bullish"


def test_hf_home_is_honoured(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = _as_hub_cache(tiny, tmp_path / "home" / "hub")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert find_weights(settings()) == snapshot


def test_a_half_downloaded_snapshot_is_not_weights(tiny: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = _as_hub_cache(tiny, tmp_path / "hub")
    (snapshot / "pytorch_model.bin").unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert find_weights(settings()) is None


def test_missing_weights_fail_when_required_and_are_skipped_on_auto(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(FinbertUnavailable) as required:
        load_finbert(settings(finbert="on"))
    assert "SENTIMENT_FINBERT_PATH" in str(required.value)
    assert "SENTIMENT_FINBERT=off" in str(required.value)
    assert load_finbert(settings(finbert="auto")) is None


def test_a_wrong_path_is_an_error_naming_the_setting(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for mode in ("on", "auto"):
        with pytest.raises(FinbertUnavailable, match="SENTIMENT_FINBERT_PATH"):
            load_finbert(settings(finbert=mode, finbert_path=tmp_path / "empty"))
    assert load_finbert(settings(finbert="off", finbert_path=tiny)) is None


# The micro-batcher ----------------------------------------------------------------------


class Shout:
    """A predict that answers each text upper-cased and remembers its batches and threads."""

    def __init__(self, fail_on: str = "", gate: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail_on = fail_on
        self.gate = gate

    def __call__(self, texts: list[str]) -> list[str]:
        self.batches.append(list(texts))
        self.threads.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail_on and self.fail_on in texts:
            raise ValueError(f"cannot score {self.fail_on}")
        return [t.upper() for t in texts]


async def test_concurrent_callers_share_batches_of_at_most_batch_max() -> None:
    shout = Shout()
    async with MicroBatcher(shout, batch_max=4, batch_wait_ms=50) as batcher:
        results = await asyncio.gather(*(batcher.score(f"t{i}") for i in range(10)))
    assert results == [f"T{i}" for i in range(10)]
    assert [len(b) for b in shout.batches] == [4, 4, 2]
    assert len(shout.threads) == 1 and threading.get_ident() not in shout.threads


async def test_a_lone_text_waits_at_most_batch_wait_for_company() -> None:
    shout = Shout()
    async with MicroBatcher(shout, batch_max=100, batch_wait_ms=150) as batcher:
        first = asyncio.ensure_future(batcher.score("a"))
        await asyncio.sleep(0.02)
        assert await batcher.score("b") == "B" and await first == "A"
        assert await batcher.score("c") == "C"
    assert shout.batches == [["a", "b"], ["c"]]


async def test_batch_max_one_scores_each_text_alone() -> None:
    shout = Shout()
    async with MicroBatcher(shout, batch_max=1, batch_wait_ms=50) as batcher:
        await asyncio.gather(*(batcher.score(t) for t in "abc"))
    assert shout.batches == [["a"], ["b"], ["c"]]


async def test_a_failing_batch_fails_only_its_own_callers() -> None:
    async with MicroBatcher(Shout(fail_on="boom"), batch_max=2, batch_wait_ms=0) as batcher:
        results = await asyncio.gather(*(batcher.score(t) for t in ["a", "boom", "c", "d"]),
                                       return_exceptions=True)
        assert isinstance(results[0], ValueError) and isinstance(results[1], ValueError)
        assert results[2:] == ["C", "D"]
        assert await batcher.score("e") == "E"  # the batcher goes on
        assert batcher.stats.failed_batches == 1 and batcher.stats.batches == 2


async def test_a_predict_with_the_wrong_count_is_an_error() -> None:
    async with MicroBatcher(lambda texts: texts[:-1], batch_max=2, batch_wait_ms=0) as batcher:
        with pytest.raises(RuntimeError, match="1 results for 2 texts"):
            await asyncio.gather(batcher.score("a"), batcher.score("b"))


async def test_stop_fails_waiting_and_running_callers_at_once() -> None:
    gate = threading.Event()
    shout = Shout(gate=gate)
    batcher = MicroBatcher(shout, batch_max=2, batch_wait_ms=0)
    callers = [asyncio.ensure_future(batcher.score(t)) for t in "abcde"]
    while not shout.batches:  # the first batch is running (and blocked)
        await asyncio.sleep(0.001)
    try:
        await asyncio.wait_for(batcher.stop(), 1.0)
        results = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(r, BatcherStopped) for r in results)
        with pytest.raises(BatcherStopped):
            await batcher.score("f")
        assert not batcher.running
    finally:
        gate.set()


async def test_a_caller_that_gave_up_is_not_scored() -> None:
    gate = threading.Event()
    shout = Shout(gate=gate)
    async with MicroBatcher(shout, batch_max=1, batch_wait_ms=0) as batcher:
        first = asyncio.ensure_future(batcher.score("a"))
        await eventually_async(lambda: shout.batches, interval=0.001)
        gone = asyncio.ensure_future(batcher.score("gone"))
        kept = asyncio.ensure_future(batcher.score("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        assert await first == "A" and await kept == "KEPT"
    assert shout.batches == [["a"], ["kept"]]


async def test_finbert_behind_the_batcher_answers_as_it_does_alone(fp32: FinbertModel) -> None:
    alone = [fp32.predict([t])[0] for t in TEXTS]
    async with MicroBatcher(fp32.predict, batch_max=4, batch_wait_ms=5) as batcher:
        answers: list[ModelAnswer] = await asyncio.gather(*(batcher.score(t) for t in TEXTS))
        assert batcher.stats.batches == 3  # 9 callers, at most 4 a batch
    assert [a.label for a in answers] == [a.label for a in alone]
    assert [a.score for a in answers] == pytest.approx([a.score for a in alone], abs=1e-5)


def test_a_batcher_made_outside_a_loop_serves_one_loop_after_another() -> None:
    batcher = MicroBatcher(Shout(), batch_max=4, batch_wait_ms=1)  # as the benches make it
    assert asyncio.run(batcher.score("a")) == "A"
    assert asyncio.run(batcher.score("b")) == "B"
    asyncio.run(batcher.stop())
