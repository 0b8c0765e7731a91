"""Backtests with FinBERT on are reproducible: the score stage's deadline is judged on
FinBERT's modelled latency in event time, not on the wall clock (sentiment/ensemble.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest

from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.sentiment.ensemble import Ensemble
from stocktracker.sentiment.finbert import FinbertModel, MicroBatcher
from stocktracker.streams.commands.backtest import run_backtest, sessions_before, synthetic_items
from stocktracker.streams.core.settings import SentimentSettings, Settings
from tests.unit.test_finbert import build_tiny

DAYS = sessions_before(date(2026, 11, 25), 1)
SENTIMENT = SentimentSettings(_env_file=None, finbert="on", llm_calls_per_minute=0,  # type: ignore[call-arg]
                              deadline_ms=100.0, finbert_sim_latency_ms=15.0)


class Slow:
    """A local model answering ``score`` after ``sleep_s`` of wall time."""

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s = sleep_s

    async def score(self, text: str) -> ModelAnswer:
        await asyncio.sleep(self.sleep_s)
        return ModelAnswer("finbert", 0.8, 0.9, "bullish", 1)


async def test_an_answer_within_its_modelled_latency_counts_however_slow_the_machine() -> None:
    # 0.3 s of wall time, three times the deadline: modelled at 15 ms it is in revision 0
    ensemble = Ensemble(SENTIMENT, finbert=Slow(0.3), modelled_ms={"finbert": 15.0})
    scoring = await ensemble.score("calls to the moon")
    assert [a.model for a in scoring.first.answers] == ["lexicon", "finbert"]
    assert scoring.first.answers[1].latency_us == 15_000 and not scoring.pending


async def test_an_answer_modelled_past_the_deadline_is_a_revision() -> None:
    ensemble = Ensemble(SENTIMENT, finbert=Slow(0.0), modelled_ms={"finbert": 150.0})
    scoring = await ensemble.score("calls to the moon")
    assert [a.model for a in scoring.first.answers] == ["lexicon"]
    revisions = [c async for c in scoring.updates()]
    assert [[a.model for a in c.answers] for c in revisions] == [["lexicon", "finbert"]]


async def test_the_live_path_still_judges_the_wall_clock() -> None:
    ensemble = Ensemble(SENTIMENT, finbert=Slow(0.3))
    started = time.perf_counter()
    scoring = await ensemble.score("calls to the moon")
    assert time.perf_counter() - started < 0.25 and len(scoring.pending) == 1
    scoring.cancel()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FinbertModel:
    return FinbertModel.load(build_tiny(tmp_path_factory.mktemp("tiny")), device="cpu",
                             quantize=False)


def test_a_finbert_backtest_gives_the_same_report_on_a_slowed_machine(model: FinbertModel) -> None:
    settings = Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                        sentiment=SENTIMENT)
    items = synthetic_items(DAYS, 7)
    first_hour = [i for i in items if i.event_us < items[0].event_us + 3_600_000_000]

    def slowed(predict_sleep_s: float) -> Ensemble:
        def predict(texts: list[str]) -> list[ModelAnswer]:
            time.sleep(predict_sleep_s)  # the forward pass past the 100 ms deadline
            return model.predict(texts)
        return Ensemble(SENTIMENT, finbert=MicroBatcher(predict, 16, 2.0),
                        modelled_ms={"finbert": SENTIMENT.finbert_sim_latency_ms})

    fast = run_backtest(settings, first_hour, ensemble=slowed(0.0))
    slow = run_backtest(settings, first_hour, ensemble=slowed(0.12))
    def said(result: object) -> list[tuple[object, ...]]:  # what was scored, not when (wall)
        return [(s["post_id"], s["ticker"], s["revision"], s["score"], s["label"],
                 tuple((m["model"], m["score"]) for m in s["models"]))
                for s in result.outcome.records["scores"]]  # type: ignore[attr-defined]

    scores = fast.outcome.records["scores"]
    assert scores and all("finbert" in {m["model"] for m in s["models"]}
                          for s in scores if s["revision"] == 0)
    assert said(slow) == said(fast)
    assert {k: v for k, v in slow.report.items() if k != "latency"} == \
        {k: v for k, v in fast.report.items() if k != "latency"}
