"""Lexicon sentiment: VADER's lexicon extended with finance and trading-forum language.

Always available (VADER ships its lexicon; nothing is downloaded). VADER looks words up
one at a time, so before it scores a post the text is rewritten:

1. curly apostrophes are straightened and emoji variation selectors dropped;
2. emoji and emoji sequences with a market meaning ("🚀", "💎🙌", "🌈🐻") become synthetic
   tokens (other emoji keep VADER's own descriptions);
3. cashtags ("$SPY") and bare tickers spelled like sentiment words ("LUV") are removed,
   so a symbol never carries sentiment; acronyms conventionally written in capitals
   ("ATH", "YOLO") are lower-cased, so VADER does not read them as shouting;
4. strike notation ("590c", "585p") becomes "calls"/"puts", and a move written with its
   sign ("+12%", "-8%") a synthetic up or down token;
5. finance phrases ("price target raised", "dead cat bounce", "selling my calls") become
   one synthetic token each, weighted in the extended lexicon, so negation, boosters,
   capitals and "!!!" around a phrase work as VADER's do for a word ("NOT selling my
   calls" reads bullish);
6. clause breaks (", " ". " newline) get pad words, so a negation does not reach into the
   next clause.

VADER's rules then run in :mod:`domain.vader` (vaderSentiment's scores, faster), over
VADER's lexicon with its general-English valences scaled down (``GENERAL_WEIGHT``) and the
finance tables on top. A post that says it takes no side ("no clue where it goes", "either
way"), or that ends with a question, has its score scaled (to 0 as the weights stand). Each
step skips texts it cannot change (no "$", no capitals, no non-ASCII character), and the
phrase scan finds candidate first words with C string operations rather than word by word.

Pure: no I/O beyond VADER's packaged lexicon, no clock, no network.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

from stocktracker.domain.finance_lexicon import (
    ACRONYMS,
    EMOJI,
    GENERAL_WEIGHT,
    NO_VIEW,
    NO_VIEW_WEIGHT,
    PHRASES,
    QUESTION_WEIGHT,
    SIGNED_MOVE,
    TICKER_WORDS,
    WORDS,
)
from stocktracker.domain.vader import Vader, vader_lexicon

_SEP = r"[\s-]+"
_GAP_STOP = r"(?:calls?|puts?|not|no|never|but|and|or|dont|don't|didnt|didn't|wont|won't)"
_GAP = rf"(?!{_GAP_STOP}(?![\w']))[\w']+{_SEP}"
_GAP_WORDS = 4
# Each lookbehind sits after the pattern's first character, so the regex engine can skip
# ahead to the next "$", capital or digit instead of testing the lookbehind everywhere.
_CASHTAG = re.compile(r"\$(?<![\w$]\$)[A-Za-z]{1,6}(?:\.[A-Za-z])?(?!\w)")
_STRIKE = re.compile(r"\d(?<![\w.]\d)\d*(?:\.\d+)?([cCpP])(?![\w'])")
_STRIKE_WORD = {"c": " calls", "C": " calls", "p": " puts", "P": " puts"}
_SIGNED_MOVE = re.compile(r"(?<![\w.%+-])([+-])\d+(?:\.\d+)?%")
# What may follow a post's last "?" for the post to end with a question: space, cashtags,
# emoji.
_AFTER_QUESTION = re.compile(r"(?:\s|\$[A-Za-z.]+|[^\x00-\x7f])*")
_NO_VIEW = "zznoview"
_CAPS_WORD = re.compile(r"[A-Z](?<![\w$'][A-Z])[A-Z]{1,4}(?![\w'])")
_WORD = re.compile(r"\w[\w']*")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_EMOJI = re.compile("|".join(re.escape(e) for e in sorted(EMOJI, key=len, reverse=True)))
# Every emoji lies inside a run of non-ASCII characters, and runs ("🚀🚀🚀", "👀") repeat
# from post to post, so each distinct run is rewritten once and remembered (up to a bound).
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_MEMO_SIZE = 1 << 14
# VADER lets "not" reach three words ahead even across a comma ("not selling my calls,
# diamond hands" would flip "diamond hands"); three pad words at each clause break stop it.
_CLAUSE = re.compile(r"(?<=[,;:.!?])[ \t]+(?=\S)|\s*\n\s*")
_CLAUSE_INLINE = re.compile(r"[ \t](?<=[,;:.!?][ \t])[ \t]*(?=\S)")  # _CLAUSE without "\n"
_PAD = "ZZ"
_CLAUSE_BREAK = f" {_PAD} {_PAD} {_PAD} "
# ASCII fast path of the phrase scan: which characters end a word, and which may not sit
# right before a phrase (a lowered text has no capitals).
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_NOT_BEFORE = _WORD_CHARS + "$'"
_NOT_AFTER = _WORD_CHARS + "'"
_SPLIT_WORDS = bytes(c if chr(c) in _NOT_AFTER else 32 for c in range(256))


@dataclass(frozen=True, slots=True)
class LexiconResult:
    """The lexicon model's reading of one post.

    Attributes
    ----------
    score:
        VADER compound score after the finance extension, in [-1, 1]; bullish positive.
    confidence:
        Strength of the evidence, in [0, 1]: ``|score|`` scaled by how much of the post
        carried sentiment; 0 when nothing did.
    label:
        ``"bullish"``, ``"bearish"`` or ``"neutral"`` (``|score|`` inside the band).
    """

    score: float
    confidence: float
    label: str


def _element(part: str) -> tuple[str, bool]:
    """Regex of one template element (without separator) and whether it is optional."""
    optional = part.endswith("?")
    alternatives = part.removesuffix("?").split("|")
    body = "|".join(_SEP.join(re.escape(w) for w in alt.split("_")) for alt in alternatives)
    return f"(?:{body})", optional


def compile_template(template: str) -> str:
    """Regex for one ``PHRASES`` template (grammar in :mod:`domain.finance_lexicon`).

    Parameters
    ----------
    template:
        Space-separated elements: ``a|b`` alternatives, ``x?`` optional, ``...`` a gap.

    Returns
    -------
    str
        A pattern that matches the phrase as whole words.
    """
    parts = template.split()
    if not parts or parts[-1] == "..." or parts[-1].endswith("?") or parts[0] == "...":
        raise ValueError(f"template must start and end with a required word: {template!r}")
    pattern = ""
    for i, part in enumerate(parts):
        if part == "...":
            pattern += f"(?:{_GAP}){{0,{_GAP_WORDS}}}?"
            continue
        regex, optional = _element(part)
        last = i == len(parts) - 1
        if optional:
            pattern += f"(?:{regex}{_SEP})?"
        else:
            pattern += regex if last else regex + _SEP
    return rf"(?<![\w$']){pattern}(?![\w'])"


def _token(template: str, taken: set[str]) -> str:
    """A synthetic lexicon token for a template: readable, unique, not a real word."""
    words = [p.split("|")[0] for p in template.split() if p != "..." and not p.endswith("?")]
    base = "zz" + re.sub(r"[^a-z0-9]", "", "".join(words).lower())
    token, n = base, 1
    while token in taken:
        n += 1
        token = f"{base}{n}"
    taken.add(token)
    return token


def _caps_word(match: re.Match[str]) -> str:
    """A bare ticker spelled like a sentiment word goes; a capitalised acronym is lowered."""
    word = match.group(0)
    if word in TICKER_WORDS:
        return " "
    return word.lower() if word in ACRONYMS else word


def _strike_word(match: re.Match[str]) -> str:
    return _STRIKE_WORD[match.group(1)]


def _asks(text: str) -> bool:
    """Whether the post ends with a question (cashtags, emoji and space may follow)."""
    last = text.rfind("?")
    return last >= 0 and _AFTER_QUESTION.fullmatch(text, last + 1) is not None


def _priority(template: str) -> tuple[int, int]:
    required = [p for p in template.split() if p != "..." and not p.endswith("?")]
    return -len(required), -len(template)


def _inert(char: str) -> bool:
    """Whether a character is no word character and has no case (an emoji, a dash)."""
    return not char.isalnum() and char.lower() == char


def _plain_lowered(text: str) -> str | None:
    """``text`` lowered, with any non-ASCII character made a space, when each of those is
    inert (so words, their boundaries and their positions are as in ``text``); else None."""
    lowered = text.lower()
    if not text.isascii():
        odd = set(_NON_ASCII.findall(text))
        if not all(map(_inert, odd)):
            return None
        for char in odd:
            lowered = lowered.replace(char, " ")
    return lowered


def _ascii_phrase_starts(lowered: str, first_words: dict[bytes, str]) -> list[tuple[int, str]]:
    """``(position, word)`` of each whole word of a lowered ASCII text that can start a
    phrase (not right after a word character, "$" or "'"), in text order."""
    starts = []
    end_of_text = len(lowered)
    found = first_words.keys() & lowered.encode().translate(_SPLIT_WORDS).split()
    for word in map(first_words.__getitem__, found):
        at = lowered.find(word)
        while at >= 0:
            end = at + len(word)
            if ((at == 0 or lowered[at - 1] not in _NOT_BEFORE)
                    and (end == end_of_text or lowered[end] not in _NOT_AFTER)):
                starts.append((at, word))
            at = lowered.find(word, end)
    starts.sort()
    return starts


class _Hits(dict[str, int]):
    """Lower-case word to 1 if, stripped of punctuation, it is in ``weighted``, else 0;
    filled as words are met, emptied when large."""

    def __init__(self, weighted: frozenset[str]) -> None:
        super().__init__()
        self.weighted = weighted

    def __missing__(self, word: str) -> int:
        if len(self) >= _MEMO_SIZE:
            self.clear()
        hit = self[word] = int(word.strip(string.punctuation) in self.weighted)
        return hit


class LexiconModel:
    """VADER sentiment with finance and trading-forum language.

    The lexicon, the phrase patterns and the scorer are built once per model; scoring is
    pure and deterministic. VADER's rules run in :class:`domain.vader.Vader` (the same
    scores as vaderSentiment's analyzer, faster), over VADER's lexicon extended with
    :mod:`domain.finance_lexicon`; vaderSentiment's own tables are left untouched.

    Parameters
    ----------
    neutral_band:
        Scores with ``|score| < neutral_band`` are labelled neutral.

    Attributes
    ----------
    name:
        Model name carried in score records (``"lexicon"``).
    """

    name: str = "lexicon"

    def __init__(self, neutral_band: float = 0.05) -> None:
        if not 0.0 <= neutral_band < 1.0:
            raise ValueError("neutral_band must be in [0, 1)")
        self.neutral_band = neutral_band
        lexicon = {word: valence * GENERAL_WEIGHT for word, valence in vader_lexicon().items()}
        taken = {*lexicon, _NO_VIEW}
        self._emoji_tokens = {e: _token(f"emoji {i}", taken) for i, e in enumerate(EMOJI)}
        self._emoji_runs: dict[str, str] = {}
        self._move_tokens = {"+": f" {_token('move up', taken)} ",
                             "-": f" {_token('move down', taken)} "}
        weights = dict(WORDS)
        weights.update({self._emoji_tokens[e]: w for e, w in EMOJI.items()})
        weights.update({self._move_tokens["+"].strip(): SIGNED_MOVE,
                        self._move_tokens["-"].strip(): -SIGNED_MOVE})
        # Phrases are indexed by their possible first words, so a post is scanned once and
        # only the templates that can start at a word are tried: all of them in one regex
        # per first word, alternatives in priority order, a named group per template.
        # A no-view phrase folds to one shared token that carries no weight.
        by_first: dict[str, list[str]] = {}
        self._phrase_tokens: dict[str, str] = {}
        templates = {**dict.fromkeys(NO_VIEW, None), **PHRASES}
        for n, template in enumerate(sorted(templates, key=_priority)):
            weight = templates[template]
            token = _NO_VIEW if weight is None else _token(template, taken)
            weights[token] = weight or 0.0
            group = f"p{n}"
            self._phrase_tokens[group] = token
            pattern = f"(?P<{group}>{compile_template(template)})"
            for first in {alt.split("_")[0].lower() for alt in template.split()[0].split("|")}:
                by_first.setdefault(first, []).append(pattern)
        self._phrases = {word: re.compile("|".join(alternatives), re.IGNORECASE)
                         for word, alternatives in by_first.items()}
        self._first_words = {word.encode(): word for word in self._phrases}
        for word, weight in weights.items():
            # A neutral word stays out of the lexicon: VADER turns a 0-valence lexicon word
            # written in capitals into -0.733 ("0DTE" would read bearish).
            if weight:
                lexicon[word] = weight
            else:
                lexicon.pop(word, None)
        self._vader = Vader(lexicon)
        # Evidence for the confidence: words with a weight ("zz", the pad, is none).
        self._hits = _Hits(frozenset(word for word, weight in lexicon.items() if weight))

    def _emoji_run(self, match: re.Match[str]) -> str:
        """A run of emoji characters with each emoji (longest first) made its token."""
        run = match.group(0)
        rewritten = self._emoji_runs.get(run)
        if rewritten is None:
            if len(self._emoji_runs) >= _MEMO_SIZE:
                self._emoji_runs.clear()
            rewritten = _EMOJI.sub(lambda m: f" {self._emoji_tokens[m.group(0)]} ", run)
            self._emoji_runs[run] = rewritten
        return rewritten

    def _signed_move(self, match: re.Match[str]) -> str:
        return self._move_tokens[match.group(1)]

    def _fold_phrases(self, text: str) -> str:
        """Replace each phrase (leftmost first, highest-priority template) by its token."""
        lowered = _plain_lowered(text)
        if lowered is not None:
            starts = _ascii_phrase_starts(lowered, self._first_words)
        else:
            starts = [(word.start(), lowered) for word in _WORD.finditer(text)
                      if (lowered := word.group(0).lower()) in self._phrases]
        pieces: list[str] = []
        done = 0
        for at, first in starts:
            if at < done:
                continue
            match = self._phrases[first].match(text, at)
            if match:
                token = self._phrase_tokens[match.lastgroup or ""]
                pieces += (text[done:at], " ", token.upper() if match.group(0).isupper() else token)
                done = match.end()
        return "".join(pieces) + text[done:] if pieces else text

    def prepare(self, text: str) -> str:
        """The text as VADER sees it: emoji, tickers, strikes and phrases rewritten.

        Parameters
        ----------
        text:
            A raw post.

        Returns
        -------
        str
            The rewritten text (useful to see why a post scored as it did).
        """
        if not text.isascii():
            text = text.replace("\ufe0f", "").replace("\u2019", "'").replace("\u2018", "'")
            text = _NON_ASCII_RUN.sub(self._emoji_run, text)
        if "$" in text:
            text = _CASHTAG.sub(" ", text)
        if text.lower() != text:
            text = _CAPS_WORD.sub(_caps_word, text)
        text = _STRIKE.sub(_strike_word, text)
        if "%" in text:
            text = _SIGNED_MOVE.sub(self._signed_move, text)
        text = self._fold_phrases(text)
        return (_CLAUSE if "\n" in text else _CLAUSE_INLINE).sub(_CLAUSE_BREAK, text)

    def _carried(self, prepared: str) -> float:
        """Fraction of the post's words (pads aside) that are sentiment-bearing."""
        words = prepared.split()
        count = len(words) - words.count(_PAD)
        if not count:
            return 0.0
        return sum(map(self._hits.__getitem__, prepared.lower().split())) / count

    def score(self, text: str) -> LexiconResult:
        """Score one post.

        Parameters
        ----------
        text:
            A raw post (any length; empty gives a neutral result with confidence 0).

        Returns
        -------
        LexiconResult
            Score in [-1, 1] (bullish positive), confidence in [0, 1], label.
        """
        prepared = self.prepare(text)
        if not prepared or prepared.isspace():
            return LexiconResult(0.0, 0.0, "neutral")
        compound = self._vader.compound(prepared)
        if compound and (_NO_VIEW in prepared or _NO_VIEW.upper() in prepared):
            compound = round(compound * NO_VIEW_WEIGHT, 4) or 0.0  # never -0.0
        elif compound and _asks(text):
            compound = round(compound * QUESTION_WEIGHT, 4) or 0.0
        carried = self._carried(prepared)
        confidence = round(min(1.0, abs(compound) * (0.5 + 0.5 * math.sqrt(carried))), 4)
        if compound == 0.0 or abs(compound) < self.neutral_band:
            label = "neutral"
        else:
            label = "bullish" if compound > 0 else "bearish"
        return LexiconResult(compound, confidence, label)
