"""Ticker extraction: cashtags, known bare symbols, company names, and their false friends."""

from __future__ import annotations

import pytest

from stocktracker.domain.tickers import COMPANY_NAMES, GUARD_WORDS, extract_tickers, extract_tickers_ex

KNOWN = frozenset({"SPY", "QQQ", "NVDA", "TSLA", "AAPL", "AMD", "BRK.B", "ALL", "IT", "ON", "A",
                   "NOW", "CEO", "DD", "EOD", "ATH", "IMO", "USA", "GDP", "CPI", "I"})


@pytest.mark.parametrize(("text", "expected"), [
    # cashtags, any case, and class shares
    ("$spy calls and $QQQ puts", ["SPY", "QQQ"]),
    ("$BRK.B is cheap", ["BRK.B"]),
    ("$brk/b and $BRK.B", ["BRK.B"]),
    ("loaded $SPY.", ["SPY"]),
    ("$NVDA's guidance", ["NVDA"]),
    ("今天$SPY大涨，我又买入了", ["SPY"]),
    # a dollar followed by digits is a price
    ("$500 profit on $spy", ["SPY"]),
    ("$5B buyback, $0.50 dividend", []),
    ("price $5 and email me@spy.com", []),
    # bare symbols: known, in capitals, not guard words
    ("SPY ripping, ALL in, IT is going up", ["SPY"]),
    ("ALL in on calls", []),
    ("IT is over", []),
    ("I think", []),
    ("A great day", []),
    ("NOW or never, CEO says DD done, EOD ATH IMO", []),
    ("USA GDP and CPI beat", []),
    ("BRK.B up", ["BRK.B"]),
    ("SPY's range", ["SPY"]),
    ("XYZ is not configured", []),
    # lower or title case is a word, not a symbol
    ("I will spy on you", []),
    ("Spy vs spy", []),
    # a guard word counts where it is cashtagged
    ("$IT earnings", ["IT"]),
    ("$ALL and ALL", ["ALL"]),
])
def test_cashtags_and_bare_symbols(text: str, expected: list[str]) -> None:
    assert extract_tickers_ex(text, KNOWN) == expected
    assert extract_tickers(text, KNOWN) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Nvidia earnings tonight", ["NVDA"]),
    ("nvidia and tesla both red", ["NVDA", "TSLA"]),
    ("NVIDIA TO THE MOON", ["NVDA"]),
    ("Nvidia's chips", ["NVDA"]),
    ("Apple earnings beat", ["AAPL"]),
    ("APPLE is cheap", ["AAPL"]),
    ("Google and Alphabet are the same", ["GOOGL"]),
    ("Meta and Facebook", ["META"]),
    ("Microsoft, Amazon, Netflix", ["MSFT", "AMZN", "NFLX"]),
    ("AMD vs Intel", ["AMD", "INTC"]),
    ("the S&P 500 is up", ["SPY"]),
    ("S&P futures red", ["SPY"]),
    ("SP500 and the Nasdaq 100", ["SPY", "QQQ"]),
    ("Nasdaq closes green", ["QQQ"]),
    ("Dow Jones and the Russell 2000", ["DIA", "IWM"]),
    ("Berkshire Hathaway buys more", ["BRK.B"]),
    ("Bank of America and Goldman Sachs", ["BAC", "GS"]),
    ("Johnson & Johnson, Procter & Gamble", ["JNJ", "PG"]),
    ("AT&T dividend", ["T"]),
    ("Coca-Cola and McDonald's", ["KO", "MCD"]),
])
def test_company_and_index_names(text: str, expected: list[str]) -> None:
    assert extract_tickers_ex(text, KNOWN) == expected


@pytest.mark.parametrize("text", [
    "apple pie for dinner",  # a name that is a word counts only capitalised...
    "I love Apple pie",  # ...and not before the word that makes it fruit
    "Apple juice and apple sauce",
    "amazon is huge",
    "the Amazon rainforest",
    "meta analysis of the data",
    "pineapple and snapple",  # whole words only
    "uber cool",
    "the visa office",
])
def test_names_that_are_everyday_words(text: str) -> None:
    assert extract_tickers_ex(text, KNOWN) == []


def test_names_can_be_left_out() -> None:
    text = "Nvidia and $TSLA and SPY"
    assert extract_tickers_ex(text, KNOWN, names=False) == ["TSLA", "SPY"]
    assert extract_tickers(text, KNOWN) == ["TSLA", "SPY"]
    assert extract_tickers_ex(text, KNOWN) == ["NVDA", "TSLA", "SPY"]


def test_names_count_whether_or_not_their_symbol_is_known() -> None:
    assert extract_tickers_ex("Netflix subscribers", frozenset()) == ["NFLX"]


def test_order_of_first_mention_without_duplicates() -> None:
    text = "TSLA then $SPY then Nvidia, $tsla again, NVDA and Tesla and spy"
    assert extract_tickers_ex(text, KNOWN) == ["TSLA", "SPY", "NVDA"]


def test_a_post_about_nothing() -> None:
    assert extract_tickers_ex("Good morning, coffee first ☕", KNOWN) == []
    assert extract_tickers_ex("", KNOWN) == []


def test_entities_must_be_decoded_first() -> None:
    assert extract_tickers_ex("S&amp;P ripping", KNOWN) == []
    assert extract_tickers_ex("S&P ripping", KNOWN) == ["SPY"]


def test_a_character_that_grows_when_lower_cased_keeps_names_found() -> None:
    assert extract_tickers_ex("İstanbul desk buys Nvidia", KNOWN) == ["NVDA"]


def test_tables_are_consistent() -> None:
    assert all(name == " ".join(name.lower().split()) for name in COMPANY_NAMES)
    assert all(symbol.isupper() for symbol in COMPANY_NAMES.values())
    assert len(set(COMPANY_NAMES.values())) >= 60
    assert {"ALL", "IT", "ON", "A", "NOW", "CEO", "DD", "EOD", "ATH", "IMO", "USA", "GDP",
            "CPI"} <= GUARD_WORDS
