"""Ticker extraction: cashtags, and bare symbols of the configured tickers, with guards."""

from __future__ import annotations

import re

_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,5})(?![\w])")
_WORD = re.compile(r"(?<![\w$])([A-Z]{1,5})(?![\w])")
# Upper-case words that look like symbols but are usually just words in posts.
GUARD_WORDS = frozenset({
    "A", "I", "ALL", "IT", "ON", "ONE", "ARE", "FOR", "NOW", "CEO", "DD", "YOLO", "ATH", "EOD",
    "IMO", "USA", "GDP", "CPI", "FED", "FOMC", "IV", "OTM", "ITM", "ATM", "DTE", "TA", "EPS",
})


def extract_tickers(text: str, known: frozenset[str]) -> list[str]:
    """Tickers a post is about, in order of first mention, without duplicates.

    Cashtags (``$spy``) always count; a bare upper-case word counts only when it is a
    known symbol and not a guard word (``ALL``, ``IT``), unless it was also cashtagged.
    """
    found: list[str] = []
    for match in _CASHTAG.finditer(text):
        symbol = match.group(1).upper()
        if symbol not in found:
            found.append(symbol)
    for match in _WORD.finditer(text):
        symbol = match.group(1)
        if symbol in known and symbol not in GUARD_WORDS and symbol not in found:
            found.append(symbol)
    return found
