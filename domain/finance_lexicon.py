"""Finance and trading-forum terms for the lexicon model, on VADER's -4..+4 valence scale.

Positive means bullish for the ticker a post is about. The tables override VADER's
general-English meaning where markets differ ("bull", "short", "puts", "crush", "tank",
"overweight", "shares", "interest") and add what VADER lacks.

``PHRASES`` keys use a small template grammar, compiled by :mod:`domain.lexicon`:

- words are separated by spaces and matched case-insensitively, with spaces or hyphens
  between them ("all time high" also matches "all-time high");
- ``a|b|c`` is one word out of alternatives; ``_`` inside an alternative is a space
  ("fell_short_of");
- a trailing ``?`` makes a word optional;
- ``...`` is a gap of up to three free words that are not calls/puts, a negation or a
  conjunction ("bought ... calls" matches "bought more SPY 0DTE calls").

Weight 0 marks a phrase that must read as neutral ("short term", "hedge fund").

``NO_VIEW`` phrases (same grammar) say the writer takes no direction ("no clue where it
goes", "either way", "on the sidelines"): a post with one has its score scaled by
``NO_VIEW_WEIGHT``, and a post that ends with a question by ``QUESTION_WEIGHT`` (0: such
a post scores nothing).
VADER's own general-English valences are scaled by ``GENERAL_WEIGHT``: in market talk
"love", "great" or "insane" say little about direction next to "puts" or "downgrade"
(and are often sarcastic).
"""

from __future__ import annotations

GENERAL_WEIGHT = 0.5
NO_VIEW_WEIGHT = 0.0
QUESTION_WEIGHT = 0.0
SIGNED_MOVE = 1.6  # "+12%" / "-8%": a move written with its sign

WORDS: dict[str, float] = {
    # analyst and corporate actions
    "upgrade": 2.5, "upgraded": 2.5, "upgrades": 2.3, "downgrade": -2.5, "downgraded": -2.5,
    "downgrades": -2.3, "beat": 2.0, "beats": 2.0, "miss": -2.0, "misses": -2.0, "missed": -2.2,
    "outperform": 2.2, "outperforms": 2.2, "outperforming": 2.0, "underperform": -2.2,
    "underperforms": -2.2, "underperforming": -2.0, "overweight": 1.6, "underweight": -1.6,
    "buyback": 1.8, "buybacks": 1.8, "repurchase": 1.4, "dilution": -2.0, "dilutive": -2.0,
    "diluted": -1.6, "bankruptcy": -3.2, "bankrupt": -3.2, "insolvent": -3.0, "layoffs": -1.6,
    "layoff": -1.4, "guidance": 0.0, "record": 0.6, "slashed": -2.2, "recession": -2.4,
    "inflation": -0.8, "hawkish": -1.5, "dovish": 1.5, "delisted": -3.0, "delisting": -3.0,
    # direction and price action
    "bull": 2.0, "bulls": 1.8, "bullish": 2.6, "bear": -2.0, "bears": -1.8, "bearish": -2.6,
    "long": 1.2, "longs": 1.0, "short": -1.4, "shorts": -1.2, "shorting": -1.8, "shorted": -1.4,
    "calls": 1.8, "call": 0.9, "puts": -1.8, "put": -0.6, "buy": 1.2, "buying": 1.2,
    "bought": 0.6, "sell": -1.2, "selling": -1.4, "sold": -0.6, "hedge": -0.4, "hedging": -0.4,
    "hedged": -0.4, "rally": 2.2, "rallying": 2.2, "rallied": 2.0, "rallies": 2.0,
    "breakout": 2.2, "breakdown": -2.2, "selloff": -2.4, "dump": -2.4, "dumping": -2.6,
    "dumped": -2.4, "dumps": -2.2, "tank": -2.4, "tanking": -2.6, "tanked": -2.4, "tanks": -2.4,
    "crater": -2.8, "cratering": -2.8, "cratered": -2.8, "plunge": -2.6, "plunging": -2.6,
    "plunged": -2.6, "crash": -3.0, "crashing": -3.0, "crashed": -3.0, "rip": 2.0,
    "ripping": 2.4, "ripped": 2.0, "rips": 2.0, "pump": 1.8, "pumping": 2.2, "pumped": 1.8,
    "soar": 2.5, "soaring": 2.6, "soared": 2.5, "surge": 2.4, "surging": 2.5, "surged": 2.4,
    "moon": 2.6, "mooning": 2.8, "mooned": 2.6, "rocket": 2.4, "rocketing": 2.6,
    "squeeze": 1.8, "squeezing": 2.0, "squeezed": 0.0, "green": 1.4, "red": -1.4,
    "bleeding": -2.2, "drill": -2.0, "drilling": -2.2, "drilled": -2.2, "fading": -1.4,
    "oversold": 1.2, "overbought": -1.2, "support": 0.8, "resistance": -0.4, "rejected": -1.6,
    "higher": 1.0, "lower": -1.0, "up": 0.6, "down": -0.6, "uptrend": 1.6, "downtrend": -1.6,
    "upside": 1.4, "downside": -1.4, "rise": 1.4, "rising": 1.4, "rose": 1.2, "climb": 1.4,
    "climbing": 1.4, "fall": -1.4, "falling": -1.4, "fell": -1.4, "drop": -1.6,
    "dropping": -1.8, "dropped": -1.6, "jump": 1.6, "jumped": 1.6, "jumping": 1.6,
    "popping": 1.6, "slump": -2.0, "slumped": -2.0, "sinking": -2.0, "sank": -2.0,
    "sliding": -1.6, "bounce": 1.2, "bouncing": 1.4, "bounced": 1.2, "rebound": 1.8,
    "rebounding": 1.8, "recovery": 1.4, "recovering": 1.4, "pullback": -0.8,
    "correction": -1.4, "meltdown": -2.6, "capitulation": -2.4, "wipeout": -3.0, "dip": -0.6,
    "dipping": -1.0, "gains": 1.8, "losses": -1.8, "ath": 2.0,
    # forum slang
    "rekt": -3.0, "bagholder": -2.4, "bagholders": -2.4, "bagholding": -2.4, "rug": -2.4,
    "rugged": -2.8, "rugpull": -3.0, "tendies": 2.4, "yolo": 1.0, "printing": 2.0,
    "printer": 1.0, "brrr": 1.2, "fomo": 0.8, "hodl": 1.2, "hodling": 1.2, "lfg": 2.2,
    "stonks": 1.0, "btfd": 2.0, "btd": 2.0, "cooked": -2.0, "cooking": 1.0,
    "guh": -2.0, "ngmi": -1.8, "wagmi": 1.8, "wrecked": -2.4, "diluting": -2.0, "dilute": -1.8,
    "aths": 2.0, "overvalued": -1.8, "undervalued": 1.8, "overpriced": -1.6, "froth": -1.2,
    "frothy": -1.4, "decel": -1.6, "decelerated": -1.6, "decelerating": -1.6,
    "deceleration": -1.6, "reaccelerated": 1.8, "reaccelerating": 1.8, "reacceleration": 1.8,
    "trimmed": -1.0, "trimming": -1.0, "topped": -1.4, "capitulating": -2.2, "csp": 1.2,
    "csps": 1.2,
    # general-English words that carry no direction in market talk
    "share": 0.0, "shares": 0.0, "interest": 0.0, "credit": 0.0, "fair": 0.0, "value": 0.0,
    "worth": 0.0, "play": 0.0, "fire": 0.0, "lol": 0.0, "top": 0.0, "demand": 0.0,
    "huge": 0.0, "honestly": 0.0, "ok": 0.0, "okay": 0.0, "risk": -0.4, "dividend": 0.0,
    "0dte": 0.0,
}

_SUBJECT_VERB = ("are|r|is|were|was|got|getting|get|all|went|keep|still|been|expired|expiring|"
                 "have_been|has_been|had_been|are_getting|about_to_get|about_to_be|"
                 "are_about_to_get|gonna_get|gonna_be|are_gonna_get|will_get|will_be")
_LOSING = ("worthless|dead|dying|red|down|bleeding|crushed|rekt|wrecked|destroyed|burning|"
           "burned|burnt|fucked|fukt|cooked|toast|gone|zeroed|trapped|squeezed|obliterated|"
           "in_shambles|down_bad|getting_crushed|getting_rekt|getting_wrecked|getting_squeezed|"
           "fuk|fukd|wrong|margin_called|getting_margin_called")
_WINNING = "printing|paying|paid|cooking|mooning|ripping|flying|up|green|itm|on_fire|up_big"
_OPEN = ("buy|buying|bought|load|loading|loaded|grab|grabbed|grabbing|add|adding|added|"
         "scooped|picked_up|picking_up|yolo|yoloed|yolo'd|threw|throwing|all_in|"
         "flip|flipped|flipping|roll|rolled|rolling")
_CLOSE = ("sell|selling|sold|close|closing|closed|dump|dumping|dumped|trim|trimmed|trimming|"
          "exit|exited|exiting|cut|cutting")
_TARGET = "price_target|price_targets|pt|target"
_RAISE = "raised|raises|raising|hiked|hikes|boosted|boosts|lifted|lifts|bumped|bumps|ups|upped"
_LOWER = ("cut|cuts|cutting|lowered|lowers|lowering|slashed|slashes|trimmed|trims|reduced|"
          "reduces|withdrew|withdraws|withdrawn|pulled|suspended|suspends")
_OUTLOOK = "guidance|outlook|forecast|forecasts"
_EXPECT = "estimates|expectations|consensus|earnings|eps|revenue|numbers|forecasts|views"

PHRASES: dict[str, float] = {
    # analyst and corporate actions
    f"{_TARGET} {_RAISE}": 2.6, f"{_RAISE} its|the|their|my|our? {_TARGET}": 2.6,
    f"{_TARGET} {_LOWER}": -2.6, f"{_LOWER} its|the|their|my|our? {_TARGET}": -2.6,
    f"{_RAISE} its|the|full_year|fy|annual? {_OUTLOOK}": 2.6, f"{_OUTLOOK} {_RAISE}": 2.6,
    f"{_LOWER} its|the|full_year|fy|annual? {_OUTLOOK}": -2.6, f"{_OUTLOOK} {_LOWER}": -2.6,
    "weak|soft|light|disappointing guidance|outlook|forecast": -2.4,
    f"beat|beats|beating|topped|tops|crushed|crushes|smashed|smashes|exceeded|exceeds on|the? "
    f"{_EXPECT}": 2.6,
    f"missed|misses|miss|missing|fell_short_of|falls_short_of|below|under on|the? {_EXPECT}": -2.6,
    "above estimates|expectations|consensus": 2.0, "in_line_with estimates|expectations": 0.0,
    "record revenue|revenues|earnings|profit|profits|sales|quarter|results": 2.6,
    "record high|highs|close": 2.4, "record low|lows": -2.4,
    "all time high|highs": 2.4, "all time low|lows": -2.4,
    "52 week high|highs": 2.0, "52 week low|lows": -2.0,
    "share|stock repurchase|repurchases|buyback|buybacks": 1.8,
    "secondary|public|stock|share|atm offering": -2.0, "chapter 11": -3.0,
    "lays|laid|laying off": -1.4, "job cuts": -1.4,
    "dividend cut|cuts|suspended": -2.2, "cuts|cut|suspends|suspended its|the? dividend": -2.2,
    "dividend hike|increase|raised": 1.8, "raises|raised|hikes|hiked its|the? dividend": 1.8,
    "rate|rates cut|cuts": 1.4, "cut|cuts|cutting rates": 1.4,
    "rate|rates hike|hikes": -1.4, "hike|hikes|hiked|hiking|raising rates": -1.4,
    "buy|overweight|outperform rating": 1.8, "sell|underweight|underperform rating": -1.8,
    "margin call|calls": -2.4,
    # forum phrases and chart talk
    "to the moon|mars": 3.0, "to the moon|mars they|he|she said|says": -2.0,
    "buy|buying|bought the dip they said": -2.0,
    "buy|buying|bought|add|adding|added on? the|every|any|this dip|dips|fear|panic|weakness|"
    "red_day|red_days": 2.0,
    "back|backing|backed up the truck": 2.4, "room to run|grow": 1.6,
    "face ripper|rippers|ripping": 2.2, "ripping|rip|ripped faces": 2.2,
    "only goes|go|going up": 2.0, "only goes|go|going down": -2.0,
    "green candle|candles|dildo|dildos": 1.8, "red candle|candles|dildo|dildos": -1.8,
    "exit liquidity": -2.2, "don't|dont|do_not be exit liquidity": -2.2,
    "don't|dont|do_not be a|the? bagholder|bagholders": -2.2, "falling knife|knives": -2.0,
    "value trap": -2.2, "money pit": -2.0, "cut|cutting in half": -2.0, "top signal": -2.0,
    "raising|raise|raised|went_to|going_to cash": -1.4,
    "covered|covering|cover my|our|the? short|shorts": 1.6,
    "bought|buying|buy the top": -1.8, "sell|selling the rip|rally|news": -1.6,
    "short|gamma squeeze": 2.4, "short covering": 1.6, "dead cat bounce": -2.2,
    "bull trap": -2.2, "bear trap": 2.0, "bull market|run": 2.2, "bear market": -2.4,
    "bull flag": 1.8, "bear flag": -1.8, "golden cross": 1.8, "death cross": -1.8,
    "double top": -1.6, "double bottom": 1.6, "head and shoulders": -1.4,
    "rug pull|pulled|pulls": -3.0, "got rugged": -2.8, "pump and dump": -2.6,
    "iv|vol|volatility crush": -1.6, "diamond hands|hand|handed": 1.8,
    "paper hands|hand|handed": -1.2, "holding|hold|left_holding the? bag|bags": -2.2,
    "bag holder|holders|holding": -2.4,
    "going|headed|heading|go|goes|went up|higher": 1.8,
    "going|headed|heading|go|goes|went down|lower": -1.8,
    "going|headed|heading|go|goes|went to zero": -3.0,
    "breaking|broke|breaks out": 2.4, "breaking|broke|breaks down": -2.4,
    "broke|breaking|breaks|lost|losing support": -2.2,
    "broke|breaking|breaks through? resistance": 2.2, "held|holding|holds support": 1.6,
    "rejected at|from resistance": -1.8,
    "sell off|offs": -2.4, "selling off": -2.4, "selling|buying pressure": -1.8,
    "new high|highs": 2.2, "new low|lows": -2.2, "higher highs|lows": 1.8,
    "lower lows|highs": -1.8, "top is|was in": -2.0, "topped|topping out": -1.8,
    "bottom is|was in": 2.0, "bottomed out": 1.8,
    "gap|gaps|gapped|gapping up": 1.8, "gap|gaps|gapped|gapping down": -1.8,
    "limit up": 2.6, "limit down": -2.8, "circuit breaker|breakers": -2.6,
    "melt up|ups": 2.0, "melting down": -2.6, "in the green": 2.0, "in the red": -2.0,
    "risk on": 1.4, "risk off": -1.4, "stop loss hit": -1.8, "stopped out": -1.6,
    "killing|killed|crushing|crushed|smashing it": 2.6, "beat|beaten up|down": -1.8,
    "vix|uvxy spiking|spikes|spiked|up|ripping|pumping|rising|exploding": -1.8,
    "sell|selling|sold premium": 0.0, "down bad": -2.4, "let's|lets go": 1.8,
    "fell|falls|falling|came_up short": -1.8,
    # options positions: opening, closing, and how they are doing
    f"{_OPEN} ... calls|call": 2.4, f"{_OPEN} ... puts|put": -2.4,
    f"{_CLOSE} ... calls|call": -1.0, f"{_CLOSE} ... puts|put": 1.0,
    f"{_OPEN} ... shares|stock|position|stake": 1.6,
    f"{_CLOSE} ... shares|stock|position|stake": -1.4,
    f"{_OPEN} ... calls|call and|or|& puts|put": 0.0, "calls|call and|or|& puts|put": 0.0,
    "puts|put and|or|& calls|call": 0.0,
    "going|went|go|staying|stay|stayed|flipping|flipped|flip long": 1.6,
    "going|went|go|staying|stay|stayed|flipping|flipped|flip short": -1.6,
    "short put|puts": 1.2, "short call|calls": -1.2, "cash secured put|puts": 1.6,
    "covered call|calls": 0.0,
    f"calls|call {_SUBJECT_VERB}? {_WINNING}": 2.8, f"puts {_SUBJECT_VERB}? {_WINNING}": -2.8,
    f"calls|call|bulls|longs {_SUBJECT_VERB}? {_LOSING}": -2.4,
    f"puts|bears|shorts {_SUBJECT_VERB}? {_LOSING}": 2.0,
    "rip to? my|our|the? bears|shorts|puts": 1.6,
    "rip to? my|our|the? bulls|longs|calls": -2.0,
    "rip to? my|our": -1.6, "got|get|getting ripped off": -2.0,
    # neutral: positions and words used in their everyday sense
    "short|long term|run|time|while|story|weekend|day|way": 0.0, "how long": 0.0,
    "as long as": 0.0, "so long": 0.0, "short interest": 0.0, "hedge fund|funds": 0.0,
    "earnings|conference call": 0.0, "call it": 0.0, "max pain": 0.0,
    "loss|gain porn": 0.0,
    "short|long straddle|straddles|strangle|strangles|condor|condors|butterfly|butterflies": 0.0,
    "put it|them|that|this|in|on|up|together|away|out|all|some|money": 0.0,
}

NO_VIEW: tuple[str, ...] = (
    "no view|clue|idea|opinion|position|direction|bias", "no clue|idea where|which",
    "either way", "which|whichever way", "coin flip|toss", "flip a coin", "sidelines",
    "sitting on my|our hands", "don't|dont care which way", "undecided", "both sides|ways",
    "fairly valued|priced", "delta neutral",
)

# Single emoji and emoji sequences (a sequence wins over its parts).
EMOJI: dict[str, float] = {
    "🚀": 2.6, "🌙": 1.8, "🌕": 1.8, "🌝": 1.4, "💎": 1.2, "🙌": 0.6, "💎🙌": 2.2, "💎✋": 2.2,
    "💎🤲": 2.2, "🧻🙌": -1.4, "🧻✋": -1.4, "📈": 2.2, "🐂": 2.2, "🟢": 1.2, "🍗": 1.6,
    "🔥": 1.2, "🤑": 1.6, "💰": 1.2, "🦍": 0.6, "📉": -2.2, "🐻": -2.2, "🌈🐻": -2.6,
    "🩸": -2.0, "💀": -1.8, "☠": -1.8, "🪦": -2.0, "🔴": -1.2, "🤡": -1.2, "💸": -0.8,
    # VADER reads these through descriptions with a market word in them ("red triangle
    # pointed up", "red heart", "red apple", "teddy bear", "fuel pump", "new moon"), or
    # with a mood that has no direction here (laughing at a post, boredom, a wave)
    "🔺": 1.6, "🔻": -1.6, "❤": 1.0, "🍎": 0.0, "🍏": 0.0, "🧸": 0.0, "🧧": 0.0, "🏮": 0.0,
    "🀄": 0.0, "📗": 0.0, "🥬": 0.0, "🥗": 0.0, "🍳": 0.0, "🍚": 0.0, "🥮": 0.0, "🎩": 0.0,
    "🚒": 0.0, "🧯": 0.0, "⛽": 0.0, "📄": 0.0, "💳": 0.0, "▶": 0.0, "⏯": 0.0, "⏺": 0.0,
    "🌑": 0.0, "🌚": 0.0, "😂": 0.0, "🤣": 0.0, "💤": 0.0, "👋": 0.0,
}

ACRONYMS: frozenset[str] = frozenset({
    # conventionally written in capitals, so capitals are not shouting
    "ATH", "YOLO", "HODL", "LFG", "FOMO", "FUD", "BTFD", "BTD", "DD", "IV", "OTM", "ITM", "ATM",
    "DTE", "EOD", "IMO", "EPS", "PT", "CPI", "FOMC", "FED", "GDP", "SEC", "CEO", "IPO", "LOL",
})

TICKER_WORDS: frozenset[str] = frozenset({
    # symbols spelled like sentiment words: neutral when written in capitals as a bare ticker
    # (only symbols that are rarely shouted as words; "GOOD" or "FREE" stay words)
    "FUN", "LUV", "PLAY", "CAKE",
})
