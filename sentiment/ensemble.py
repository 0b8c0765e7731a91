"""The deadline-bound ensemble: every model asked at once, the score emitted at the deadline.

For each post the lexicon answers at once; FinBERT (through its micro-batcher) and the
hosted LLMs are started together. At ``deadline_ms`` after the post arrived, or earlier
when everyone has answered, :meth:`Ensemble.score` returns the combined score of what
arrived. Answers that come later are not dropped: :meth:`Scoring.updates` yields a new
combined score (the next revision) as each one arrives.

In a backtest (``modelled_ms``) the local models' deadline is judged in event time: each
has a modelled latency, the ensemble waits for its answer whatever the wall time, and the
answer counts at the deadline iff its modelled latency is within it (else it is the next
revision, as a late answer is live). So a replay gives the same scores on a slow machine.
The live path (no ``modelled_ms``) judges the deadline on the wall clock.

LLM calls are rationed: only posts at or above the relevance bar, within a per-minute
budget per model. The LLMs' HTTP work runs on a loop of its own (:mod:`sentiment.io_loop`),
so it never delays the deadline. Answers are cached by normalised-text hash (and calls in
flight are shared), so a repost costs nothing. What the LLMs say never opens a position on its own:
see :func:`domain.sentiment.combine`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.llm_answer import NonsenseAnswer
from stocktracker.domain.ration import MinuteBudget
from stocktracker.domain.sentiment import Combined, ModelAnswer, combine_weighted, text_key, with_band
from stocktracker.sentiment.io_loop import BackgroundLoop
from stocktracker.sentiment.llm import LLMModel, LLMUnavailable, llms_from_settings
from stocktracker.streams.core.settings import SentimentSettings

log = logging.getLogger(__name__)


class LocalScorer(Protocol):
    """A local model behind a micro-batcher (FinBERT)."""

    async def score(self, text: str) -> ModelAnswer:
        """One post's answer."""
        ...


@dataclass(slots=True)
class EnsembleStats:
    """Counters for metrics."""

    posts: int = 0
    cache_hits: int = 0
    llm_calls: int = 0
    below_relevance: int = 0
    over_budget: int = 0
    late_answers: int = 0
    failed_answers: int = 0
    nonsense_answers: int = 0


@dataclass
class Scoring:
    """One post's score at the deadline, and the answers still on their way."""

    first: Combined
    time_to_score_us: int
    answers: list[ModelAnswer]
    pending: set[asyncio.Future[ModelAnswer]]
    _rescore: Callable[[list[ModelAnswer]], Combined] = field(repr=False)
    _on_late: Callable[[BaseException | None], None] = field(repr=False)

    async def updates(self) -> AsyncIterator[Combined]:
        """Yield the combined score again each time a late answer arrives (in arrival order).

        Failed or nonsense late answers are counted and skipped. Every model has its own
        timeout, so this ends.
        """
        for next_done in asyncio.as_completed(self.pending):
            try:
                answer = await next_done
            except (LLMUnavailable, NonsenseAnswer, RuntimeError) as exc:
                self._on_late(exc)
                continue
            self._on_late(None)
            self.answers.append(answer)
            yield self._rescore(self.answers)
        self.pending = set()

    def cancel(self) -> None:
        """Stop waiting for late answers (on shutdown)."""
        for fut in self.pending:
            fut.cancel()


class Ensemble:
    """Lexicon, FinBERT and the hosted LLMs behind one deadline.

    Parameters
    ----------
    settings:
        The ``SENTIMENT_`` section (deadline, weights, rationing, cache size).
    lexicon:
        The always-available local model.
    finbert:
        FinBERT's micro-batcher, or None (the lexicon then carries FinBERT's weight).
    llms:
        The hosted models with keys (none is fine).
    clock:
        Monotonic seconds (for the budget; injectable in tests).
    modelled_ms:
        Backtests: local model -> its latency in event time, ms (see the module docstring);
        None (live): the deadline is the wall clock's.
    """

    def __init__(self, settings: SentimentSettings, lexicon: LexiconModel | None = None,
                 finbert: LocalScorer | None = None, llms: Sequence[LLMModel] = (),
                 clock: Callable[[], float] = time.monotonic,
                 modelled_ms: Mapping[str, float] | None = None) -> None:
        self.settings = settings
        self.modelled_ms = dict(modelled_ms or {})
        self.bands = model_bands(settings)
        self.lexicon = lexicon or LexiconModel(_lexicon_band(settings))
        self.finbert = finbert
        self.llms = list(llms)
        self.clock = clock
        self.budgets = {m.name: MinuteBudget(settings.llm_calls_per_minute) for m in self.llms}
        self.stats = EnsembleStats()
        self._cache: OrderedDict[tuple[str, str], ModelAnswer] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[ModelAnswer]] = {}
        self._io = BackgroundLoop() if self.llms else None
        self.weights = {"finbert": settings.weight_finbert, "groq": settings.weight_groq,
                        "claude": settings.weight_claude}

    @property
    def model_names(self) -> list[str]:
        """The models this ensemble asks (lexicon always)."""
        return ["lexicon", *(["finbert"] if self.finbert else []), *(m.name for m in self.llms)]

    async def score(self, text: str, tickers: tuple[str, ...] = (),
                    relevance: float = 1.0) -> Scoring:
        """Score one post by the deadline.

        Parameters
        ----------
        text:
            The post.
        tickers:
            The tickers it is about (given to the LLMs).
        relevance:
            In [0, 1]; below ``llm_min_relevance`` the LLMs are not asked.

        Returns
        -------
        Scoring
            The combined score at the deadline (revision 0) and the late answers to come.
        """
        started = time.perf_counter()
        deadline = started + self.settings.deadline_ms / 1000
        self.stats.posts += 1
        key = text_key(text)
        t0 = time.perf_counter()
        lex = self.lexicon.score(text)
        answers = [ModelAnswer("lexicon", lex.score, lex.confidence, lex.label,
                               int((time.perf_counter() - t0) * 1e6))]
        waiting: dict[asyncio.Future[ModelAnswer], str] = {}
        if self.finbert is not None:
            finbert = self.finbert
            self._ask(key, "finbert", lambda: finbert.score(text), answers, waiting)
        if self.llms and relevance < self.settings.llm_min_relevance:
            self.stats.below_relevance += 1
        elif self.llms:
            for llm in self.llms:
                self._ask_llm(key, llm, text, tickers, answers, waiting)
        asked = [a.model for a in answers] + list(waiting.values())
        late = await self._modelled(waiting, answers)
        if waiting:
            done, _ = await asyncio.wait(waiting, timeout=max(0.0, deadline - time.perf_counter()))
            for fut in done:
                result = self._result(fut)
                if result is not None:
                    answers.append(result)
        pending = {f for f in waiting if not f.done()} | late
        first = self._combine(answers, asked)
        return Scoring(first, int((time.perf_counter() - started) * 1e6), answers, pending,
                       lambda got: self._combine(got, asked), self._late)

    async def _modelled(self, waiting: dict[asyncio.Future[ModelAnswer], str],
                        answers: list[ModelAnswer]) -> set[asyncio.Future[ModelAnswer]]:
        """Take the models with a modelled latency out of ``waiting``, wait for each answer
        however long it takes, and add it to ``answers`` when its modelled latency is within
        the deadline; returns the later ones, done, for :meth:`Scoring.updates`."""
        late: set[asyncio.Future[ModelAnswer]] = set()
        for fut, model in list(waiting.items()):
            if model not in self.modelled_ms:
                continue
            del waiting[fut]
            await asyncio.wait([fut])
            result = self._result(fut)
            if result is None:
                continue
            ms = self.modelled_ms[model]
            result = dataclasses.replace(result, latency_us=int(ms * 1000))
            if ms <= self.settings.deadline_ms:
                answers.append(result)
            else:
                done: asyncio.Future[ModelAnswer] = asyncio.get_running_loop().create_future()
                done.set_result(result)
                late.add(done)
        return late

    def _ask_llm(self, key: str, llm: LLMModel, text: str, tickers: tuple[str, ...],
                 answers: list[ModelAnswer],
                 waiting: dict[asyncio.Future[ModelAnswer], str]) -> None:
        cache_key = (key, llm.name)
        if cache_key not in self._cache and cache_key not in self._inflight:
            if not self.budgets[llm.name].take(self.clock()):
                self.stats.over_budget += 1
                return
            self.stats.llm_calls += 1
        assert self._io is not None
        io = self._io
        self._ask(key, llm.name, lambda: io.submit(llm.answer(text, tickers)), answers, waiting)

    def _ask(self, key: str, model: str, call: Callable[[], Awaitable[ModelAnswer]],
             answers: list[ModelAnswer], waiting: dict[asyncio.Future[ModelAnswer], str]) -> None:
        """Answer from the cache, join a call in flight, or start one."""
        cache_key = (key, model)
        cached = self._cache.get(cache_key)
        if cached is not None:
            self._cache.move_to_end(cache_key)
            self.stats.cache_hits += 1
            answers.append(dataclasses.replace(cached, latency_us=0))
            return
        fut = self._inflight.get(cache_key)
        if fut is None:
            band = self.bands.get(model)
            fut = asyncio.ensure_future(call() if band is None else _banded(call(), band))
            self._inflight[cache_key] = fut
            fut.add_done_callback(lambda f: self._store(cache_key, f))
        waiting[asyncio.shield(fut)] = model

    def _store(self, cache_key: tuple[str, str], fut: asyncio.Future[ModelAnswer]) -> None:
        self._inflight.pop(cache_key, None)
        if fut.cancelled() or fut.exception() is not None or self.settings.cache_size == 0:
            return
        self._cache[cache_key] = fut.result()
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)

    def _result(self, fut: asyncio.Future[ModelAnswer]) -> ModelAnswer | None:
        exc = fut.exception()
        if exc is None:
            return fut.result()
        self._count_failure(exc)
        return None

    def _count_failure(self, exc: BaseException) -> None:
        if isinstance(exc, NonsenseAnswer):
            self.stats.nonsense_answers += 1
        else:
            self.stats.failed_answers += 1
        log.info("model gave no answer: %s", exc)

    def _late(self, exc: BaseException | None) -> None:
        if exc is None:
            self.stats.late_answers += 1
        else:
            self._count_failure(exc)

    def _combine(self, answers: list[ModelAnswer], asked: list[str]) -> Combined:
        return combine_weighted(answers, self.weights, self.settings.disagreement_bound,
                                self.settings.neutral_band, asked)

    async def close(self) -> None:
        """Stop FinBERT's batcher, close the LLM clients (on their loop) and stop that loop."""
        stop = getattr(self.finbert, "stop", None)
        if stop is not None:
            await stop()
        if self._io is None:
            return
        for llm in self.llms:
            await self._io.run(llm.close())
        self._io.stop()


def model_bands(settings: SentimentSettings) -> dict[str, float | None]:
    """Each model's neutral band, from its own setting; unset, the lexicon's is
    ``neutral_band`` and FinBERT and the LLMs keep the label they give (None)."""
    return {"lexicon": _lexicon_band(settings), "finbert": settings.neutral_band_finbert,
            "groq": settings.neutral_band_groq, "claude": settings.neutral_band_claude}


def _lexicon_band(settings: SentimentSettings) -> float:
    band = settings.neutral_band_lexicon
    return settings.neutral_band if band is None else band


async def _banded(answer: Awaitable[ModelAnswer], band: float) -> ModelAnswer:
    """The answer, labelled from its score with the model's band."""
    return with_band(await answer, band)


def ensemble_from_settings(settings: SentimentSettings, backtest: bool = False) -> Ensemble:
    """The ensemble with every model the settings (and the weights on disk) make available;
    in a ``backtest`` FinBERT's deadline is judged on its modelled latency
    (``SENTIMENT_FINBERT_SIM_LATENCY_MS``), not on the wall clock."""
    finbert: LocalScorer | None = None
    if settings.finbert != "off":
        try:
            from stocktracker.sentiment.finbert import MicroBatcher, load_finbert
        except ImportError as exc:  # torch or transformers missing
            if settings.finbert == "on":
                raise RuntimeError(f"SENTIMENT_FINBERT=on but FinBERT cannot load: {exc} "
                                   "(run `make setup`, or set SENTIMENT_FINBERT=off)") from exc
            log.warning("FinBERT off: %s (`make setup`, or pip install '.[finbert]', installs torch)", exc)
        else:
            model = load_finbert(settings)
            if model is not None:
                finbert = MicroBatcher(model.predict, settings.finbert_batch_max,
                                       settings.finbert_batch_wait_ms)
    llms = llms_from_settings(settings)
    log.info("sentiment models: lexicon%s%s", " finbert" if finbert else "",
             "".join(f" {m.name}" for m in llms))
    modelled = {"finbert": settings.finbert_sim_latency_ms} if backtest else None
    return Ensemble(settings, finbert=finbert, llms=llms, modelled_ms=modelled)
