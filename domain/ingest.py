"""What a post goes through before it is published: clean, language, tickers, relevance, dedup.

:class:`Processor` takes a post as a source delivered it and says whether to keep it
(with its cleaned text, tickers and relevance) or why it was dropped, counting both.
The steps run cheapest and most selective first, and a post stops at the first that
drops it:

1. ``empty``: nothing is left after :func:`domain.text_clean.clean_text`;
2. ``language``: not English by :func:`domain.text_clean.language` (posts too short to
   tell pass; a source that reports ``"en"`` is believed without a check);
3. ``no_ticker``: no ticker found (:func:`domain.tickers.extract_tickers_ex`) and none
   tagged by the source;
4. ``low_relevance``: :func:`domain.relevance.relevance` below ``min_relevance``;
5. ``duplicate`` / ``near_duplicate``: a repeat of a post kept in the dedup window
   (:class:`domain.dedup.Deduplicator`).

Relevance comes before dedup so that the window remembers only posts that were kept: a
post dropped as irrelevant cannot make a later, more relevant repeat a duplicate.

Pure: the caller passes the time (``now_us``, µs since the epoch); nothing is read from
the clock, the network or files. Time in the dedup window is ``now_us``; a post's age for
relevance is ``now_us - created_us``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stocktracker.domain.dedup import DUPLICATE, NEW, Deduplicator
from stocktracker.domain.relevance import relevance
from stocktracker.domain.text_clean import clean_text, language
from stocktracker.domain.tickers import extract_tickers_ex

KEPT = "kept"
EMPTY = "empty"
LANGUAGE = "language"
NO_TICKER = "no_ticker"
LOW_RELEVANCE = "low_relevance"
DUPLICATE_REASON = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
REASONS = (KEPT, EMPTY, LANGUAGE, NO_TICKER, LOW_RELEVANCE, DUPLICATE_REASON, NEAR_DUPLICATE)
"""Every outcome's ``reason``, ``"kept"`` first."""
ACCEPTED_LANGUAGES = frozenset({"en", "und"})
"""Languages kept by default: English, and posts too short to tell."""


class PostLike(Protocol):
    """The fields of a post the processor reads (``connectors.base.RawPost`` has them)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def created_us(self) -> int: ...
    @property
    def followers(self) -> int: ...
    @property
    def likes(self) -> int: ...
    @property
    def reposts(self) -> int: ...
    @property
    def replies(self) -> int: ...
    @property
    def verified(self) -> bool: ...
    @property
    def lang(self) -> str: ...
    @property
    def tickers(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one post.

    Attributes
    ----------
    reason:
        ``"kept"``, or why it was dropped (one of :data:`REASONS`).
    text:
        The cleaned text (``""`` when dropped as empty).
    tickers:
        Symbols in order of first mention (empty when dropped before extraction).
    relevance:
        In [0, 1] (0.0 when dropped before it was computed).
    duplicate_of:
        Id of the kept post this one repeats (duplicates and near-duplicates only).
    language:
        The language guess (``""`` when the source's ``"en"`` was believed).
    """

    reason: str
    text: str = ""
    tickers: tuple[str, ...] = ()
    relevance: float = 0.0
    duplicate_of: str = ""
    language: str = ""

    @property
    def kept(self) -> bool:
        """Whether the post goes on to be published."""
        return self.reason == KEPT


@dataclass(slots=True)
class Processor:
    """The chain of pure steps between a source and the ``posts`` topic.

    Parameters
    ----------
    known:
        Symbols that count when written bare in capitals (``SPY``).
    min_relevance:
        Posts below it are dropped (``low_relevance``); the default keeps a bare ticker
        match up to one relevance half-life old.
    names:
        Whether company names ("Nvidia") count as tickers.
    languages:
        Language guesses kept (``None`` keeps every language).
    dedup:
        The duplicate finder (a 10-minute window of up to 50,000 posts by default).
    """

    known: frozenset[str]
    min_relevance: float = 0.1
    names: bool = True
    languages: frozenset[str] | None = ACCEPTED_LANGUAGES
    dedup: Deduplicator = field(default_factory=Deduplicator)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def process(self, post: PostLike, now_us: int) -> Outcome:
        """Process a post as a source delivered it (for example a ``RawPost``).

        Parameters
        ----------
        post:
            The post.
        now_us:
            The time of processing, µs since the epoch.

        Returns
        -------
        Outcome
            Kept with text, tickers and relevance, or the reason it was dropped.
        """
        return self._run(post.text, now_us, post.id, post.created_us, post.followers,
                         post.likes, post.reposts, post.replies, post.verified, post.lang,
                         post.tickers)

    def process_fields(self, *, text: str, now_us: int, post_id: str = "", created_us: int = 0,
                       followers: int = 0, likes: int = 0, reposts: int = 0, replies: int = 0,
                       verified: bool = False, lang: str = "",
                       source_tickers: tuple[str, ...] = ()) -> Outcome:
        """Process a post given field by field (see :meth:`process`).

        ``created_us`` of 0 means unknown: the post counts as fresh. ``lang`` is the
        language the source reported (``""`` when it did not say); ``source_tickers`` the
        symbols it tagged.
        """
        return self._run(text, now_us, post_id, created_us, followers, likes, reposts, replies,
                         verified, lang, source_tickers)

    def _run(self, text: str, now_us: int, post_id: str, created_us: int, followers: int,
             likes: int, reposts: int, replies: int, verified: bool, lang: str,
             source_tickers: tuple[str, ...]) -> Outcome:
        counts = self.counts
        cleaned = clean_text(text)
        if not cleaned:
            counts[EMPTY] += 1
            return Outcome(EMPTY)
        guess = ""
        if lang != "en" and self.languages is not None:
            guess = language(cleaned)
            if guess not in self.languages:
                counts[LANGUAGE] += 1
                return Outcome(LANGUAGE, cleaned, language=guess)
        found = extract_tickers_ex(cleaned, self.known, self.names)
        for tagged in source_tickers:
            symbol = tagged.upper()
            if symbol not in found:
                found.append(symbol)
        tickers = tuple(found)
        if not tickers:
            counts[NO_TICKER] += 1
            return Outcome(NO_TICKER, cleaned, language=guess)
        age_s = (now_us - created_us) / 1e6 if created_us else 0.0
        score = relevance(tickers=len(tickers), followers=followers, likes=likes,
                          reposts=reposts, replies=replies, age_s=age_s, verified=verified)
        if score < self.min_relevance:
            counts[LOW_RELEVANCE] += 1
            return Outcome(LOW_RELEVANCE, cleaned, tickers, score, language=guess)
        verdict = self.dedup.check(cleaned, now_us / 1e6, post_id)
        if verdict.kind != NEW:
            reason = DUPLICATE_REASON if verdict.kind == DUPLICATE else NEAR_DUPLICATE
            counts[reason] += 1
            return Outcome(reason, cleaned, tickers, score, verdict.of, guess)
        counts[KEPT] += 1
        return Outcome(KEPT, cleaned, tickers, score, language=guess)

    def counters(self) -> dict[str, int]:
        """Posts per outcome so far (a copy), every reason present."""
        return dict(self.counts)
