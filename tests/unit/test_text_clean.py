"""Cleaning a post's text, and the quick language check."""

from __future__ import annotations

import unicodedata

import pytest

from stocktracker.domain.text_clean import clean_text, is_english, language


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("$SPY to the moon https://t.co/AbC123 🚀🚀", "$SPY to the moon 🚀🚀"),
    ("read this: www.example.com/dd?x=1, then buy", "read this: , then buy"),
    ("see (https://x.com/a/status/1).", "see ( )."),
    ("calls &amp; puts, 5 &gt; 4, it&#39;s &quot;fine&quot;", "calls & puts, 5 > 4, it's \"fine\""),
    ("S&amp;P 500 ripping", "S&P 500 ripping"),
    ("zero\u200bwidth\ufeff and\u200c joiner", "zerowidth and joiner"),
    ("bell\x07 and\x00 nul", "bell and nul"),
    ("  many   spaces\n\nand\tlines  ", "many spaces and lines"),
    ("emoji stay 🚀📈🐻 and 👨\u200d💻 too", "emoji stay 🚀📈🐻 and 👨\u200d💻 too"),
    ("cashtags $SPY $brk.b and punctuation!?", "cashtags $SPY $brk.b and punctuation!?"),
    ("\u200b\u200b  ", ""),
    ("https://t.co/only", ""),
])
def test_clean_text(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


def test_clean_text_normalises_to_nfc() -> None:
    decomposed = "Cafe\u0301 cr\u00e8me"  # "e" + combining acute
    cleaned = clean_text(decomposed)
    assert cleaned == "Café crème"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_clean_text_decodes_an_entity_that_hides_an_invisible_character() -> None:
    assert clean_text("a&#8203;b and &#x200B;c") == "ab and c"


def test_clean_text_is_idempotent() -> None:
    raw = "Loading &amp; holding $NVDA 🚀 https://t.co/x  \n more"
    once = clean_text(raw)
    assert clean_text(once) == once


@pytest.mark.parametrize(("text", "code"), [
    ("The market is going up today and I am buying more calls", "en"),
    ("Loading up on $SPY calls before CPI tomorrow, this is the bottom", "en"),
    ("El mercado está subiendo hoy y voy a comprar más acciones de $TSLA", "es"),
    ("¿Qué pasa con el mercado? ¡Vamos!", "es"),
    ("Der Markt steigt heute und ich kaufe noch mehr Aktien von Tesla", "de"),
    ("O mercado está subindo hoje e eu vou comprar mais ações da Apple", "pt"),
    ("Je pense que le marché va monter demain avec les actions", "fr"),
    ("Penso che il mercato salirà oggi, molto bene per le azioni", "it"),
    ("Рынок сегодня растет, я покупаю $SPY и жду новых максимумов", "ru"),
    ("今天$NVDA大涨，我又买入了一些看涨期权 🚀", "zh"),
    ("今日は$NVDAが大きく上がったので、コールを買い増ししました", "ja"),
    ("오늘 주식 시장이 크게 올랐어요 $SPY", "ko"),
])
def test_language_of_samples(text: str, code: str) -> None:
    assert language(text) == code


@pytest.mark.parametrize("text", [
    "$SPY 🚀🚀", "NVDA", "$TSLA $AAPL", "🚀🚀🚀", "", "calls?", "Tesla robotaxi delay confirmed",
])
def test_posts_too_short_or_without_function_words_are_undetermined(text: str) -> None:
    assert language(text) == "und"
    assert is_english(text)


def test_is_english_accepts_english_and_refuses_other_languages() -> None:
    assert is_english("Just bought more $AAPL calls, this is going to rip")
    assert not is_english("Ich glaube, dass die Aktie nach den Zahlen fällt")
    assert not is_english("Рынок сегодня растет")
    assert not is_english("今天股市大涨，买入特斯拉")


def test_a_few_latin_letters_do_not_hide_a_non_latin_post() -> None:
    assert language("$SPY $QQQ 今天大涨，我全仓买入了看涨期权") == "zh"
