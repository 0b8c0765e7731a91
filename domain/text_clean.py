"""Cleaning a post's text before it is scored, and a quick check of its language.

:func:`clean_text` removes links, decodes HTML entities (X sends ``&amp;``, ``&gt;``),
drops zero-width and control characters, normalises to NFC and collapses whitespace to
single spaces; emoji, cashtags and punctuation stay. Most posts are plain ASCII with
nothing to decode, and take a fast path that only collapses whitespace.

:func:`language` guesses a post's language without a model: the script of its letters
first (Cyrillic, Han, kana, Hangul, ...), then, for Latin text, common function words of
English, Spanish, Portuguese, German, French and Italian. Posts with too few words to
tell ("$SPY 🚀🚀", "NVDA calls") are ``"und"`` (undetermined), and :func:`is_english`
accepts them: most of those are tickers, numbers and emoji, which read the same in any
language.

Pure: no I/O, no clock, no network.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Links: with a scheme, or bare "www."; trailing punctuation belongs to the sentence.
_URL = re.compile(r"(?:[hH](?<![\w][hH])(?i:ttps?://)|[wW](?<![\w][wW])(?i:ww\.))"
                  r"[^\s<>\"]*[^\s<>\".,;:!?)\]}'’]")
# Zero-width, bidi and other invisible format characters, and C0/C1 controls (whitespace
# ones, tab to carriage return, are left for the collapse to make spaces). The zero-width
# joiner is kept: it glues emoji sequences ("👨\u200d💻").
_INVISIBLE = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0xA0), 0x00AD,
     0x061C, 0x180E, 0x200B, 0x200C, 0x200E, 0x200F, *range(0x202A, 0x202F),
     *range(0x2060, 0x2065), *range(0x2066, 0x2070), 0xFEFF],
)
_INVISIBLE_HINT = re.compile("[" + "".join(re.escape(chr(c)) for c in _INVISIBLE) + "]")
_STRAY_JOINER = re.compile(r"^\u200d+|\u200d+$|(?<=[\w\s])\u200d+|\u200d+(?=[\w\s])")
_CONTROL_HINT = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")

# Language guess ----------------------------------------------------------------------
MIN_WORDS = 3
"""Fewer words than this (cashtags and emoji count) is too short to tell: ``"und"``."""
MIN_SCRIPT_LETTERS = 2
"""Non-Latin letters needed before a post is attributed to their script."""

# ASCII punctuation but the apostrophe to space, on the UTF-8 bytes (never inside a
# multi-byte character), so "today," and "(today)" are "today".
_PUNCT_TO_SPACE = bytes(
    32 if chr(c) in "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~" else c for c in range(256))
_FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("the", "a", "an", "and", "or", "but", "is", "are", "was", "were", "be", "been",
           "it", "this", "that", "these", "those", "to", "of", "in", "on", "at", "for", "with",
           "from", "by", "about", "i", "you", "he", "she", "we", "they", "my", "your", "our",
           "their", "its", "me", "him", "us", "them", "not", "no", "just", "what", "when",
           "why", "how", "who", "will", "would", "can", "could", "should", "have", "has",
           "had", "do", "does", "did", "going", "get", "got", "all", "if", "so", "than",
           "then", "up", "down", "out", "today", "tomorrow", "very", "more", "much", "like",
           "im", "i'm", "dont", "don't", "it's", "there", "here", "some", "any", "into",
           "after", "before", "over", "still", "now", "buy", "buying", "sell", "selling",
           "bought", "sold", "calls", "puts", "loading", "market", "stock", "stocks",
           "earnings", "moon", "long", "short", "week", "big", "again", "back", "new",
           "next", "too", "only", "because", "until", "while", "being"),
    "es": ("el", "la", "los", "las", "un", "una", "unos", "y", "o", "pero", "es", "son",
           "está", "están", "esta", "este", "esto", "de", "del", "en", "con", "por", "para",
           "que", "qué", "se", "su", "sus", "lo", "le", "mi", "yo", "tu", "muy", "más",
           "como", "cuando", "hoy", "mañana", "ya", "también", "sin", "sobre", "porque",
           "hay", "fue", "ser", "al", "nos", "todo", "todos", "comprar", "vender", "acciones",
           "mercado", "sube", "baja", "ahora"),
    "pt": ("o", "os", "as", "um", "uma", "e", "ou", "mas", "é", "são", "está", "estão",
           "esta", "este", "isso", "isto", "de", "do", "da", "dos", "das", "em", "no", "na",
           "nos", "nas", "com", "por", "para", "que", "se", "seu", "sua", "eu", "você",
           "muito", "mais", "como", "quando", "hoje", "amanhã", "já", "também", "sem",
           "sobre", "porque", "não", "foi", "ser", "ao", "tudo", "comprar", "vender", "ações",
           "mercado", "sobe", "cai", "agora"),
    "de": ("der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "und", "oder",
           "aber", "ist", "sind", "war", "nicht", "kein", "keine", "zu", "von", "mit", "auf",
           "für", "im", "ich", "du", "er", "sie", "wir", "ihr", "mein", "sehr", "mehr", "wie",
           "wenn", "heute", "morgen", "schon", "auch", "ohne", "über", "weil", "noch", "nur",
           "jetzt", "hat", "haben", "wird", "werden", "kaufen", "verkaufen", "aktie", "aktien",
           "markt", "steigt", "fällt", "gekauft", "dass", "es", "bei", "nach"),
    "fr": ("le", "la", "les", "un", "une", "des", "et", "ou", "mais", "est", "sont", "ce",
           "cette", "de", "du", "en", "avec", "pour", "par", "sur", "que", "qui", "je", "tu",
           "il", "elle", "nous", "vous", "ils", "mon", "très", "plus", "comme", "quand",
           "aujourd'hui", "demain", "déjà", "aussi", "sans", "pas", "ne", "au", "aux",
           "acheter", "vendre", "actions", "marché", "monte", "baisse", "maintenant"),
    "it": ("il", "lo", "la", "gli", "le", "un", "uno", "una", "e", "o", "ma", "è", "sono",
           "questo", "questa", "di", "del", "della", "in", "con", "per", "su", "che", "chi",
           "io", "tu", "lui", "lei", "noi", "voi", "mio", "molto", "più", "come", "quando",
           "oggi", "domani", "già", "anche", "senza", "non", "comprare", "vendere", "azioni",
           "mercato", "sale", "scende", "adesso", "ora"),
}
_LANGS = tuple(_FUNCTION_WORDS)
# Each word (UTF-8) maps to the indexes in _LANGS of the languages it belongs to.
_WORD_LANGS: dict[bytes, tuple[int, ...]] = {}
for _index, _lang in enumerate(_LANGS):
    for _word in _FUNCTION_WORDS[_lang]:
        _key = _word.encode()
        _WORD_LANGS[_key] = (*_WORD_LANGS.get(_key, ()), _index)
_ALL_FUNCTION_WORDS = frozenset(_WORD_LANGS)
# Letters a language spells with and English does not: a hit counts like a function word.
_MARKS = {"es": re.compile(r"[ñ¿¡]"), "pt": re.compile(r"[ãõ]"), "de": re.compile(r"[ßäöü]")}
# Scripts other than Latin, first match wins (kana before Han: Japanese mixes both).
_SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u052f]")),
    ("ja", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")),
    ("zh", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)
# UTF-8 lead bytes of the scripts above (Greek on), but not of Latin letters with accents
# (0xC3-0xC9), punctuation, symbols and emoji (0xE2, 0xEF, 0xF0): a quick test on bytes
# before the letters are counted.
_NON_LATIN_LEAD_BYTE = re.compile(rb"[\xce-\xdf\xe0\xe1\xe3-\xed]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_NON_LATIN_LETTER = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f]")


def clean_text(text: str) -> str:
    """A post's text ready for scoring.

    Removes links (``https://...``, ``www.``), decodes HTML entities, drops zero-width,
    bidi and control characters (a zero-width joiner inside an emoji sequence stays),
    normalises to NFC and collapses runs of whitespace (newlines included) to one space.

    Parameters
    ----------
    text:
        The text as a source received it.

    Returns
    -------
    str
        The cleaned text, stripped; ``""`` when nothing is left.
    """
    if text.isascii():
        if "&" in text:
            text = html.unescape(text)
            if not text.isascii():
                return _clean_unicode(text)
        if "//" in text or "ww." in text or "WW." in text:
            text = _URL.sub(" ", text)
        if _CONTROL_HINT.search(text) is not None:
            text = text.translate(_INVISIBLE)
        return " ".join(text.split())
    return _clean_unicode(text)


def _clean_unicode(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    if "//" in text or "ww." in text or "WW." in text:
        text = _URL.sub(" ", text)
    if _INVISIBLE_HINT.search(text) is not None:
        text = text.translate(_INVISIBLE)
    if "\u200d" in text:
        text = _STRAY_JOINER.sub("", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def language(text: str) -> str:
    """A quick guess of a post's language, as an ISO 639-1 code.

    A post whose letters are mostly of a non-Latin script gets that script's main
    language (Cyrillic ``"ru"``, kana ``"ja"``, Han without kana ``"zh"``, Hangul
    ``"ko"``, ...). Latin text is attributed to the language with the most distinct
    function words among ``en es pt de fr it`` (plus letters only some of them use:
    "ñ", "ß", "ã"; English wins ties); text with fewer than :data:`MIN_WORDS` words
    (emoji count as words, and are no function word), or with no hit at all, is
    ``"und"``.

    Parameters
    ----------
    text:
        The post, preferably already cleaned (links read as words otherwise).

    Returns
    -------
    str
        ``"en"``, ``"es"``, ``"pt"``, ``"de"``, ``"fr"``, ``"it"``, a non-Latin script's
        language, or ``"und"`` when it cannot tell.
    """
    lowered = text.lower()
    data = lowered.encode()
    ascii_only = data.isascii()
    if not ascii_only and _NON_LATIN_LEAD_BYTE.search(data) is not None:
        other = _NON_LATIN_LETTER.findall(lowered)
        if len(other) >= MIN_SCRIPT_LETTERS and len(other) * 2 >= len(_LATIN_LETTER.findall(lowered)):
            joined = "".join(other)
            for code, script in _SCRIPTS:
                if script.search(joined) is not None:
                    return code
            return "und"
    words = data.translate(_PUNCT_TO_SPACE).split()
    if len(words) < MIN_WORDS:
        return "und"
    hits = [0] * len(_LANGS)
    for word in _ALL_FUNCTION_WORDS.intersection(words):
        for i in _WORD_LANGS[word]:
            hits[i] += 1
    if not ascii_only and (b"\xc3" in data or b"\xc2" in data):  # UTF-8 of U+0080-U+00FF
        for code, marks in _MARKS.items():
            hits[_LANGS.index(code)] += len(marks.findall(lowered))
    best = max(hits)
    if best == 0:
        return "und"
    return _LANGS[hits.index(best)]


def is_english(text: str) -> bool:
    """Whether a post reads as English, or is too short to tell (see :func:`language`)."""
    return language(text) in ("en", "und")
