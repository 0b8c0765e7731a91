"""Ticker extraction: cashtags, bare symbols of the configured tickers, company names.

Three kinds of mention, found by separate scans and merged by position:

- A cashtag (``$spy``, ``$BRK.B``, ``$brk/b``) always counts, in any case; ``$`` followed
  by a digit is a price (``$500``, ``$5B``), not a ticker.
- A bare word counts only when written in capitals, known (the ``known`` set) and not a
  guard word (``ALL``, ``IT``, ``CEO``, ...): "spy" the verb and "Spy" never count.
- A company or index name (:data:`COMPANY_NAMES`, about 100 names of 74 well-known US
  large caps and index ETFs) counts as a whole word, case-insensitively, whether or not its
  symbol is in ``known``; names that are also everyday words ("Apple", "Amazon", "Meta",
  "Visa", "Oracle", "Intel", "Uber", "Snowflake", "Caterpillar", "Coke") count only
  capitalised ("Apple", "APPLE"), and "Apple"/"Amazon" not before a word that makes them
  fruit or forest ("apple pie", "Amazon rainforest").

Indices map to the ETF the system trades: "S&P 500", "S&P", "SP500" to ``SPY`` (the
cash index ``SPX`` stays itself when cashtagged), "Nasdaq"/"Nasdaq 100" to ``QQQ`` (the
index, not the exchange operator ``NDAQ``), "Dow Jones"/"Dow" to ``DIA`` (the index, not
Dow Inc.), "Russell 2000" to ``IWM``. "Google" and "Alphabet" map to ``GOOGL``,
"Berkshire" to ``BRK.B``. Symbol boundaries are ASCII, so "今天$SPY大涨" names ``SPY``.

Symbols come out in order of first mention, each once. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re

# Upper-case words that look like symbols but are usually just words in posts.
GUARD_WORDS = frozenset({
    "A", "I", "ALL", "IT", "ON", "ONE", "ARE", "FOR", "NOW", "CEO", "DD", "YOLO", "ATH", "EOD",
    "IMO", "USA", "GDP", "CPI", "FED", "FOMC", "IV", "OTM", "ITM", "ATM", "DTE", "TA", "EPS",
    # added with company names: common words and trading jargon that are also listed symbols
    "AM", "AN", "AND", "AS", "AT", "BE", "BIG", "BY", "CAN", "DO", "GO", "GOOD", "HAS", "HE",
    "IF", "IN", "IS", "LOW", "ME", "MY", "NEW", "NEXT", "NO", "NOT", "OF", "OR", "OUT", "PM",
    "RUN", "SEE", "SO", "THE", "TO", "TWO", "UP", "US", "WE", "ANY", "REAL", "LOVE", "HOLD",
    "MOON", "PUMP", "BULL", "BEAR", "CASH", "FUN", "OPEN", "PLAY", "TRUE", "BEST", "EV", "AI",
    "IPO", "SEC", "ETF", "PE", "OP", "EU", "UK", "TV", "PR", "ER", "Q", "QE", "RSI", "MACD",
})

COMPANY_NAMES: dict[str, str] = {
    # index ETFs
    "s&p 500": "SPY", "s&p500": "SPY", "s&p": "SPY", "sp500": "SPY", "sp 500": "SPY",
    "nasdaq": "QQQ", "nasdaq 100": "QQQ", "nasdaq100": "QQQ", "dow jones": "DIA",
    "dow": "DIA", "russell 2000": "IWM", "russell2000": "IWM",
    # mega and large caps
    "apple": "AAPL", "microsoft": "MSFT", "nvidia": "NVDA", "amazon": "AMZN",
    "alphabet": "GOOGL", "google": "GOOGL", "meta": "META", "facebook": "META",
    "tesla": "TSLA", "berkshire": "BRK.B", "berkshire hathaway": "BRK.B", "broadcom": "AVGO",
    "jpmorgan": "JPM", "jp morgan": "JPM", "jpmorgan chase": "JPM", "eli lilly": "LLY",
    "visa": "V", "mastercard": "MA", "unitedhealth": "UNH", "exxon": "XOM",
    "exxonmobil": "XOM", "exxon mobil": "XOM", "walmart": "WMT", "johnson & johnson": "JNJ",
    "procter & gamble": "PG", "home depot": "HD", "costco": "COST", "oracle": "ORCL",
    "chevron": "CVX", "coca-cola": "KO", "coca cola": "KO", "coke": "KO", "pepsico": "PEP",
    "pepsi": "PEP", "netflix": "NFLX", "amd": "AMD", "advanced micro devices": "AMD",
    "intel": "INTC", "salesforce": "CRM", "adobe": "ADBE", "cisco": "CSCO",
    "qualcomm": "QCOM", "texas instruments": "TXN", "ibm": "IBM", "boeing": "BA",
    "disney": "DIS", "nike": "NKE", "mcdonald's": "MCD", "mcdonalds": "MCD",
    "starbucks": "SBUX", "bank of america": "BAC", "goldman sachs": "GS", "goldman": "GS",
    "morgan stanley": "MS", "wells fargo": "WFC", "citigroup": "C", "paypal": "PYPL",
    "uber": "UBER", "airbnb": "ABNB", "palantir": "PLTR", "snowflake": "SNOW",
    "shopify": "SHOP", "micron": "MU", "supermicro": "SMCI", "super micro": "SMCI",
    "coinbase": "COIN", "microstrategy": "MSTR", "gamestop": "GME", "rivian": "RIVN",
    "general motors": "GM", "ford motor": "F", "at&t": "T", "verizon": "VZ",
    "comcast": "CMCSA", "pfizer": "PFE", "moderna": "MRNA", "merck": "MRK", "abbvie": "ABBV",
    "caterpillar": "CAT", "lockheed martin": "LMT", "lockheed": "LMT", "alibaba": "BABA",
    "tsmc": "TSM", "taiwan semiconductor": "TSM", "asml": "ASML", "dell": "DELL",
}
"""Company and index names (lower case, single spaces) to symbols."""

_CAPITALISED_ONLY = frozenset({
    "apple", "amazon", "meta", "visa", "oracle", "intel", "uber", "snowflake", "caterpillar",
    "coke",
})
_NOT_BEFORE = {
    "apple": frozenset({"pie", "pies", "juice", "sauce", "cider", "tree", "trees", "crumble",
                        "tart", "orchard", "slices"}),
    "amazon": frozenset({"rainforest", "river", "jungle", "basin", "forest"}),
}


def _trie_pattern(words: list[str]) -> str:
    """A regex matching exactly ``words``, factored by common prefix (fast to try)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [(r"\s+" if char == " " else re.escape(char)) + emit(child)
                for char, child in sorted(node.items()) if char]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


# Each lookbehind sits after the pattern's first character, so the regex engine skips
# ahead to the next "$" or capital instead of testing the lookbehind everywhere.
# Boundaries are ASCII: a symbol may touch a Chinese or Japanese character ("今天$SPY大涨").
_CASHTAG = re.compile(
    r"\$(?<![0-9A-Za-z_$]\$)([A-Za-z]{1,5}(?:[./][A-Za-z](?![0-9A-Za-z_.]))?)(?![0-9A-Za-z_&])")
_BARE = re.compile(r"[A-Z](?<![0-9A-Za-z_$&.'][A-Z])[A-Z]{0,4}(?:\.[A-Z](?![0-9A-Za-z_.]))?"
                   r"(?![0-9A-Za-z_&])(?!'(?![sS]\b))")
# Names are looked for in the lower-cased post (several times faster than IGNORECASE);
# the case rules and the "apple pie" guard are checked on the match.
_NAMES_TRIE = _trie_pattern(list(COMPANY_NAMES))
_NAME = re.compile(rf"\b(?:{_NAMES_TRIE})(?![\w&])")
_NAME_ANY_CASE = re.compile(rf"\b(?:{_NAMES_TRIE})(?![\w&])", re.IGNORECASE)
_NEXT_WORD = re.compile(r"\s+(\w+)")
# A quick test before the regex: does any word of the post (UTF-8, punctuation but "&"
# as space) start a name? Most posts name no company and stop there.
_NAME_PUNCT_TO_SPACE = bytes(
    32 if chr(c) in "!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}~" else c for c in range(256))
_NAME_FIRST_WORDS = frozenset(
    name.encode().translate(_NAME_PUNCT_TO_SPACE).split()[0] for name in COMPANY_NAMES)
_SPACES = re.compile(r"\s+")


def extract_tickers(text: str, known: frozenset[str]) -> list[str]:
    """Tickers a post is about, in order of first mention, without duplicates.

    Cashtags (``$spy``) always count; a bare upper-case word counts only when it is a
    known symbol and not a guard word (``ALL``, ``IT``), unless it was also cashtagged.
    Company names are not read (see :func:`extract_tickers_ex`).
    """
    return extract_tickers_ex(text, known, names=False)


def extract_tickers_ex(text: str, known: frozenset[str], names: bool = True) -> list[str]:
    """Tickers a post is about, from cashtags, known bare symbols and company names.

    Parameters
    ----------
    text:
        The post (cleaned or not: HTML entities such as ``&amp;`` should be decoded first
        for "S&P" and "AT&T" to be read).
    known:
        Symbols that count when written bare in capitals (``SPY``); guard words never do.
    names:
        Whether company and index names ("Nvidia", "S&P 500") count.

    Returns
    -------
    list[str]
        Upper-case symbols in order of first mention, each once (class shares as
        ``BRK.B``); a guard word counts only where it is cashtagged.
    """
    hits: list[tuple[int, str]] = []
    if "$" in text:
        for match in _CASHTAG.finditer(text):
            hits.append((match.start(), match.group(1).upper().replace("/", ".")))
    for match in _BARE.finditer(text):
        symbol = match.group()
        if symbol in known and symbol not in GUARD_WORDS:
            hits.append((match.start(), symbol))
    if names:
        hits.extend(_names(text))
        hits.sort()
    elif "$" in text:
        hits.sort()
    found: list[str] = []
    for _, symbol in hits:
        if symbol not in found:
            found.append(symbol)
    return found


def _names(text: str) -> list[tuple[int, str]]:
    """Positions and symbols of the company names in ``text``."""
    lowered = text.lower()
    if _NAME_FIRST_WORDS.isdisjoint(lowered.encode().translate(_NAME_PUNCT_TO_SPACE).split()):
        return []
    # a character whose lower case is longer ("İ") would shift positions: search the text
    same = len(lowered) == len(text)
    matches = _NAME.finditer(lowered) if same else _NAME_ANY_CASE.finditer(text)
    hits: list[tuple[int, str]] = []
    for match in matches:
        start, end = match.span()
        if start and text[start - 1] in "$&.'":
            continue
        key = match.group().lower()
        if key not in COMPANY_NAMES:
            key = _SPACES.sub(" ", key)
        if key in _CAPITALISED_ONLY and not text[start].isupper():
            continue
        if key in _NOT_BEFORE:
            following = _NEXT_WORD.match(text, end)
            if following is not None and following.group(1).lower() in _NOT_BEFORE[key]:
                continue
        hits.append((start, COMPANY_NAMES[key]))
    return hits
