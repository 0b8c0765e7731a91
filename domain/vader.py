"""VADER's compound sentiment score, computed by the same rules as vaderSentiment, faster.

vaderSentiment's ``SentimentIntensityAnalyzer.polarity_scores`` is the reference: for any
text and lexicon, :meth:`Vader.compound` returns exactly its ``"compound"`` value. The
rules, in the order VADER applies them to each word found in the lexicon:

- words are the whitespace-separated tokens with surrounding punctuation stripped (unless
  that leaves two characters or fewer: ``":)"`` stays an emoticon); emoji become their
  descriptions from VADER's emoji table;
- a booster or dampener ("very", "kinda") and the "kind" of "kind of" score nothing
  themselves;
- "no" right before a lexicon word negates it instead of counting, and "no" up to three
  words back ("no ... or/nor" at three) negates;
- a word in capitals while other words are not gains ``C_INCR`` of emphasis;
- each of the three preceding words that is not a lexicon word can boost or dampen (less
  the farther it is, more in capitals), and negate ("not", "*n't", "never" except "never
  so/this", "without" except "without doubt");
- at three words back, special idioms ("the shit", "kiss of death") replace the valence
  and "kind of"/"sort of" dampen it; "least" before a word negates it (not "at least");
- "but" halves what comes before it and weighs what follows by 1.5;
- the sum gains emphasis from "!" (up to four) and "?" (two or more) and is normalised to
  ``s / sqrt(s² + 15)``, rounded to four decimals.

The speed comes from doing each thing once: the text is lowered and split once, each
distinct token's word is remembered (a bounded memo), words outside the lexicon are
skipped in C (``map`` and ``compress``), emoji are looked up only where the text is not
ASCII, and the context rules run in full only near a booster, negation or idiom word.
Booster, negation and idiom tables are VADER's own, imported from the package; the
lexicons are read from its data files.

Pure: the only I/O is reading VADER's two packaged lexicon files, once per process.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from itertools import compress
from types import MappingProxyType

from vaderSentiment.vaderSentiment import BOOSTER_DICT, C_INCR, N_SCALAR, NEGATE, SPECIAL_CASES

_PUNCTUATION = string.punctuation
_NEGATE = frozenset(NEGATE)
_BOOSTERS: dict[str, float] = dict(BOOSTER_DICT)
# Words that can take part in a multi-word idiom or booster ("kiss of death", "kind of"):
# a window of words holding none of them needs no idiom lookup.
_IDIOM_WORDS = frozenset(word for key in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in key
                         for word in key.split())
_SO_THIS = ("so", "this")
# Words that can change a lexicon word three places or less away (boosters, negations,
# idioms): a word with none of them around scores its plain valence.
_CONTEXT = frozenset({*(w for w in BOOSTER_DICT if " " not in w), *NEGATE, *_IDIOM_WORDS, "no",
                      "so", "this", "least"})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_EXCLAIM_MAX = 4
_EXCLAIM_WEIGHT = 0.292
_QUESTION_WEIGHT = 0.18
_QUESTION_CAP = 0.96
_ALPHA = 15
_MEMO_SIZE = 1 << 14


def _read_table(name: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of one tab-separated VADER data file, in file order."""
    text = resources.files("vaderSentiment").joinpath(name).read_text(encoding="utf-8")
    pairs = []
    for line in text.rstrip("\n").split("\n"):
        fields = line.strip().split("\t")
        if len(fields) >= 2:
            pairs.append((fields[0], fields[1]))
    return pairs


@cache
def _packaged_lexicon() -> tuple[tuple[str, float], ...]:
    return tuple((word, float(value)) for word, value in _read_table("vader_lexicon.txt"))


@cache
def _packaged_emoji() -> tuple[tuple[str, str], ...]:
    return tuple(_read_table("emoji_utf8_lexicon.txt"))


def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (-4..+4), read from the installed package (a fresh copy).

    Returns
    -------
    dict[str, float]
        Lower-case word or emoticon to valence, as ``SentimentIntensityAnalyzer`` loads it.
    """
    return dict(_packaged_lexicon())


class _Words(dict[str, str]):
    """Lower-case token to VADER's word for it (punctuation stripped unless two characters
    or fewer would be left), filled as tokens are met and emptied when large."""

    def __missing__(self, token: str) -> str:
        if len(self) >= _MEMO_SIZE:
            self.clear()
        stripped = token.strip(_PUNCTUATION)
        word = self[token] = stripped if len(stripped) > 2 else token
        return word


def _negated(word: str) -> bool:
    return word in _NEGATE or "n't" in word


class Vader:
    """VADER's rule-based compound score over a lexicon.

    Parameters
    ----------
    lexicon:
        Lower-case word to valence; defaults to VADER's own (:func:`vader_lexicon`). The
        mapping is copied, so later changes to it do not reach the scorer.
    """

    def __init__(self, lexicon: Mapping[str, float] | None = None) -> None:
        self._lexicon: dict[str, float] = dict(vader_lexicon() if lexicon is None else lexicon)
        # VADER scores a booster as 0 before it looks the word up, so a booster is never
        # an item to score, though it still counts as a lexicon word for its neighbours.
        self._items = frozenset(w for w in self._lexicon if w not in _BOOSTERS)
        self._least_negates = "least" not in self._lexicon
        self._words = _Words()
        # Only single characters are replaced (VADER walks the text one character at a
        # time); the leading space keeps an emoji from gluing onto the word before it.
        self._emoji = {e: f" {d}" for e, d in _packaged_emoji() if len(e) == 1}

    @property
    def lexicon(self) -> Mapping[str, float]:
        """The lexicon the scorer uses (a read-only view)."""
        return MappingProxyType(self._lexicon)

    def compound(self, text: str) -> float:
        """VADER's compound score of ``text``, equal to ``polarity_scores(text)["compound"]``.

        Parameters
        ----------
        text:
            Any text; emoji are read through VADER's emoji descriptions.

        Returns
        -------
        float
            The normalised sum of valences in [-1, 1], rounded to 4 decimals; 0.0 for a
            text without words.
        """
        if not text.isascii():
            text = _NON_ASCII.sub(self._describe, text)
        if text.isascii():
            tokens = text.split()
            lowered = text.lower()
            # Stripping commutes with lower() in ASCII, so one lower() serves every word.
            lowers = list(map(self._words.__getitem__, lowered.split()))
            has_capitals = lowered != text
            contracted = "n't" in lowered
        else:
            tokens = text.split()
            lowers = [(s if len(s := t.strip(_PUNCTUATION)) > 2 else t).lower() for t in tokens]
            has_capitals = contracted = True
        count = len(lowers)
        if not count:
            return 0.0
        # Some words but not all in capitals (short-circuits on the first of each kind).
        cap_diff = has_capitals and any(map(str.isupper, tokens)) and not all(
            map(str.isupper, tokens))
        lexicon = self._lexicon
        sentiments: list[tuple[int, float]] = []
        for i in compress(range(count), map(self._items.__contains__, lowers)):
            word = lowers[i]
            if word == "kind" and i + 1 < count and lowers[i + 1] == "of":
                continue
            if contracted or word == "no" or not _CONTEXT.isdisjoint(lowers[max(0, i - 3):i + 3]):
                sentiments.append((i, self._valence(i, lowers, tokens, cap_diff)))
                continue
            # No word nearby can boost, negate or form an idiom: only capitals count.
            valence = lexicon[word]
            if cap_diff and tokens[i].isupper():
                valence = valence + C_INCR if valence > 0 else valence - C_INCR
            sentiments.append((i, valence))
        if not sentiments:
            return 0.0
        if "but" in lowers:
            total = sum(_but_weighted(sentiments, count, lowers.index("but")))
        else:
            total = sum(valence for _, valence in sentiments)
        return round(_normalise(total, _emphasis(text)), 4)

    def _describe(self, match: re.Match[str]) -> str:
        """An emoji's description from VADER's table; any other character unchanged."""
        char = match.group(0)
        return self._emoji.get(char, char)

    def _valence(self, i: int, lowers: list[str], tokens: list[str], cap_diff: bool) -> float:
        """Valence of the lexicon word at ``i`` after VADER's context rules."""
        lexicon = self._lexicon
        word = lowers[i]
        valence = lexicon[word]
        if word == "no" and i + 1 < len(lowers) and lowers[i + 1] in lexicon:
            valence = 0.0
        if ((i > 0 and lowers[i - 1] == "no") or (i > 1 and lowers[i - 2] == "no")
                or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ("or", "nor"))):
            valence = lexicon[word] * N_SCALAR
        if cap_diff and tokens[i].isupper():
            valence = valence + C_INCR if valence > 0 else valence - C_INCR
        for back in (1, 2, 3):
            if i < back:
                break
            before = lowers[i - back]
            if before in lexicon:
                continue
            scalar = _BOOSTERS.get(before)
            if scalar is not None:
                if valence < 0:
                    scalar = -scalar
                if cap_diff and tokens[i - back].isupper():
                    scalar = scalar + C_INCR if valence > 0 else scalar - C_INCR
                if back == 2:
                    scalar *= 0.95
                elif back == 3:
                    scalar *= 0.9
                valence += scalar
            valence = _negation(valence, lowers, i, back)
            if back == 3:
                valence = _idioms(valence, lowers, i)
        if (self._least_negates and i > 0 and lowers[i - 1] == "least"
                and (i == 1 or lowers[i - 2] not in ("at", "very"))):
            valence *= N_SCALAR
        return valence


def _negation(valence: float, lowers: list[str], i: int, back: int) -> float:
    """Apply the negation rule for the word ``back`` places before ``i``."""
    if back == 1:
        return valence * N_SCALAR if _negated(lowers[i - 1]) else valence
    if back == 2:
        if lowers[i - 2] == "never" and lowers[i - 1] in _SO_THIS:
            return valence * 1.25
        if lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
            return valence
        return valence * N_SCALAR if _negated(lowers[i - 2]) else valence
    if (lowers[i - 3] == "never" and lowers[i - 2] in _SO_THIS) or lowers[i - 1] in _SO_THIS:
        return valence * 1.25
    if lowers[i - 3] == "without" and "doubt" in (lowers[i - 2], lowers[i - 1]):
        return valence
    return valence * N_SCALAR if _negated(lowers[i - 3]) else valence


def _idioms(valence: float, lowers: list[str], i: int) -> float:
    """Special idioms around ``i`` (``i >= 3``) and multi-word dampeners before it."""
    if _IDIOM_WORDS.isdisjoint(lowers[i - 3:i + 3]):
        return valence
    w3, w2, w1, w0 = lowers[i - 3:i + 1]
    before = (f"{w1} {w0}", f"{w2} {w1} {w0}", f"{w2} {w1}", f"{w3} {w2} {w1}", f"{w3} {w2}")
    for phrase in before:
        if phrase in SPECIAL_CASES:
            valence = SPECIAL_CASES[phrase]
            break
    if len(lowers) > i + 1 and (phrase := f"{w0} {lowers[i + 1]}") in SPECIAL_CASES:
        valence = SPECIAL_CASES[phrase]
    if len(lowers) > i + 2 and (phrase := f"{w0} {lowers[i + 1]} {lowers[i + 2]}") in SPECIAL_CASES:
        valence = SPECIAL_CASES[phrase]
    for phrase in (before[3], before[4], before[2]):
        if phrase in _BOOSTERS:
            valence += _BOOSTERS[phrase]
    return valence


def _but_weighted(sentiments: list[tuple[int, float]], count: int, but: int) -> list[float]:
    """Every word's valence after VADER's "but" rule, in word order (zeros included).

    VADER walks the list and rescales the *first* entry equal to each value it meets, so
    with repeated values (zeros above all) an entry can be rescaled twice or not at all;
    that is reproduced exactly.
    """
    values: list[float] = [0] * count
    for i, valence in sentiments:
        values[i] = valence
    for k in range(count):
        value = values[k]
        first = values.index(value)
        if first < but:
            values[first] = value * 0.5
        elif first > but:
            values[first] = value * 1.5
    return values


def _emphasis(text: str) -> float:
    """Added intensity from "!" (up to four) and "?" (two or more)."""
    exclaim = min(text.count("!"), _EXCLAIM_MAX) * _EXCLAIM_WEIGHT
    questions = text.count("?")
    if questions <= 1:
        return exclaim
    return exclaim + (questions * _QUESTION_WEIGHT if questions <= 3 else _QUESTION_CAP)


def _normalise(total: float, emphasis: float) -> float:
    """The emphasised sum squashed into [-1, 1]."""
    if total > 0:
        total += emphasis
    elif total < 0:
        total -= emphasis
    score = total / math.sqrt(total * total + _ALPHA)
    return max(-1.0, min(1.0, score))

