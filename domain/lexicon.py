"""Lexicon sentiment: VADER's lexicon extended with finance and trading-forum language.

Always available (VADER ships its lexicon; nothing is downloaded). VADER looks words up
one at a time, so before it scores a post the text is rewritten:

1. curly apostrophes are straightened and emoji variation selectors dropped;
2. emoji and emoji sequences with a market meaning ("🚀", "💎🙌", "🌈🐻") become synthetic
   tokens (other emoji keep VADER's own descriptions);
3. cashtags ("$SPY") and bare tickers spelled like sentiment words ("LUV") are removed,
   so a symbol never carries sentiment; acronyms conventionally written in capitals
   ("ATH", "YOLO") are lower-cased, so VADER does not read them as shouting;
4. strike notation ("590c", "585p") becomes "calls"/"puts";
5. finance phrases ("price target raised", "dead cat bounce", "selling my calls") become
   one synthetic token each, weighted in the extended lexicon, so negation, boosters,
   capitals and "!!!" around a phrase work as VADER's do for a word ("NOT selling my
   calls" reads bullish);
6. clause breaks (", " ". " newline) get pad words, so a negation does not reach into the
   next clause.

Pure: no I/O beyond VADER's packaged lexicon, no clock, no network.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from domain.finance_lexicon import ACRONYMS, EMOJI, PHRASES, TICKER_WORDS, WORDS

_SEP = r"[\s-]+"
_GAP_STOP = r"(?:calls?|puts?|not|no|never|but|and|or|dont|don't|didnt|didn't|wont|won't)"
_GAP = rf"(?!{_GAP_STOP}(?![\w']))[\w']+{_SEP}"
_GAP_WORDS = 4
_CASHTAG = re.compile(r"(?<![\w$])\$[A-Za-z]{1,6}(?:\.[A-Za-z])?(?![\w])")
_STRIKE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?([cCpP])(?![\w'])")
_CAPS_WORD = re.compile(r"(?<![\w$'])[A-Z]{2,5}(?![\w'])")
_WORD = re.compile(r"\w[\w']*")
_EMOJI = re.compile("|".join(re.escape(e) for e in sorted(EMOJI, key=len, reverse=True)))
# VADER lets "not" reach three words ahead even across a comma ("not selling my calls,
# diamond hands" would flip "diamond hands"); three pad words at each clause break stop it.
_CLAUSE = re.compile(r"(?<=[,;:.!?])[ \t]+(?=\S)|\s*\n\s*")
_PAD = "ZZ"
_CLAUSE_BREAK = f" {_PAD} {_PAD} {_PAD} "


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


def _priority(template: str) -> tuple[int, int]:
    required = [p for p in template.split() if p != "..." and not p.endswith("?")]
    return -len(required), -len(template)


class LexiconModel:
    """VADER sentiment with finance and trading-forum language.

    The analyzer and the phrase patterns are built once per model; scoring is pure and
    deterministic. VADER's module-level tables are left untouched, so a plain
    ``SentimentIntensityAnalyzer`` elsewhere in the process keeps its own behaviour.

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
        self._vader = SentimentIntensityAnalyzer()
        taken = set(self._vader.lexicon)
        self._emoji_tokens = {e: _token(f"emoji {i}", taken) for i, e in enumerate(EMOJI)}
        weights = dict(WORDS)
        weights.update({self._emoji_tokens[e]: w for e, w in EMOJI.items()})
        # Phrases are indexed by their possible first words, so a post is scanned once,
        # word by word, and only the few templates that can start at a word are tried.
        self._phrases: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        for template in sorted(PHRASES, key=_priority):
            token = _token(template, taken)
            weights[token] = PHRASES[template]
            pattern = re.compile(compile_template(template), re.IGNORECASE)
            for first in template.split()[0].split("|"):
                self._phrases.setdefault(first.split("_")[0].lower(), []).append((pattern, token))
        for word, weight in weights.items():
            # A neutral word stays out of the lexicon: VADER turns a 0-valence lexicon word
            # written in capitals into -0.733 ("0DTE" would read bearish).
            if weight:
                self._vader.lexicon[word] = weight
            else:
                self._vader.lexicon.pop(word, None)

    def _fold_phrases(self, text: str) -> str:
        """Replace each phrase (leftmost first, highest-priority template) by its token."""
        pieces: list[str] = []
        done = 0
        for word in _WORD.finditer(text):
            candidates = self._phrases.get(word.group(0).lower())
            if candidates is None or word.start() < done:
                continue
            for pattern, token in candidates:
                match = pattern.match(text, word.start())
                if match:
                    pieces += (text[done:match.start()], " ",
                               token.upper() if match.group(0).isupper() else token)
                    done = match.end()
                    break
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
            text = _EMOJI.sub(lambda m: f" {self._emoji_tokens[m.group(0)]} ", text)
        if "$" in text:
            text = _CASHTAG.sub(" ", text)
        text = _CAPS_WORD.sub(_caps_word, text)
        text = _STRIKE.sub(lambda m: " calls" if m.group(1) in "cC" else " puts", text)
        text = self._fold_phrases(text)
        return _CLAUSE.sub(_CLAUSE_BREAK, text)

    def _carried(self, prepared: str) -> float:
        """Fraction of the post's words (pads aside) that are sentiment-bearing."""
        words = [w for w in prepared.split() if w != _PAD]
        if not words:
            return 0.0
        lexicon = self._vader.lexicon
        hits = sum(1 for w in words if lexicon.get(w.strip(string.punctuation).lower(), 0.0))
        return hits / len(words)

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
        if not prepared.strip():
            return LexiconResult(0.0, 0.0, "neutral")
        compound = float(self._vader.polarity_scores(prepared)["compound"])
        carried = self._carried(prepared)
        confidence = round(min(1.0, abs(compound) * (0.5 + 0.5 * math.sqrt(carried))), 4)
        if compound == 0.0 or abs(compound) < self.neutral_band:
            label = "neutral"
        else:
            label = "bullish" if compound > 0 else "bearish"
        return LexiconResult(compound, confidence, label)
