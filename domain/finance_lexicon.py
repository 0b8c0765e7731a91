"""Finance and trading-forum terms on VADER's -4..+4 scale (they override VADER's
general-English meaning where markets differ: "bull", "short", "puts", "crush", "tank")."""

from __future__ import annotations

WORDS: dict[str, float] = {
    # analyst and corporate actions
    "upgrade": 2.5, "upgraded": 2.5, "upgrades": 2.3, "downgrade": -2.5, "downgraded": -2.5,
    "downgrades": -2.3, "beat": 2.0, "beats": 2.0, "miss": -2.2, "misses": -2.2,
    "missed": -2.2, "outperform": 2.2, "underperform": -2.2, "overweight": 1.6,
    "underweight": -1.6, "buyback": 1.8, "buybacks": 1.8, "dilution": -2.0, "dilutive": -2.0,
    "bankruptcy": -3.2, "bankrupt": -3.2, "layoffs": -1.6, "guidance": 0.0, "record": 1.0,
    "raised": 0.8, "cut": -1.0, "cuts": -1.0, "slashed": -2.2, "recession": -2.4,
    "inflation": -0.8, "hawkish": -1.5, "dovish": 1.5,
    # direction
    "bull": 2.0, "bulls": 1.8, "bullish": 2.6, "bear": -2.0, "bears": -1.8, "bearish": -2.6,
    "long": 1.2, "short": -1.4, "shorting": -1.8, "shorts": -1.2, "calls": 1.8, "call": 0.8,
    "puts": -1.8, "put": -0.8, "rally": 2.2, "rallying": 2.2, "breakout": 2.2,
    "breaking": 0.0, "breakdown": -2.2, "selloff": -2.4, "sell-off": -2.4, "dump": -2.4,
    "dumping": -2.6, "dumped": -2.4, "tank": -2.4, "tanking": -2.6, "tanked": -2.4,
    "crater": -2.8, "cratering": -2.8, "cratered": -2.8, "plunge": -2.6, "plunging": -2.6,
    "crash": -3.0, "crashing": -3.0, "rip": 2.0, "ripping": 2.4, "pump": 1.8, "pumping": 2.2,
    "soar": 2.5, "soaring": 2.6, "surge": 2.4, "surging": 2.5, "moon": 2.6, "mooning": 2.8,
    "rocket": 2.4, "squeeze": 1.8, "squeezing": 2.0, "green": 1.4, "red": -1.4,
    "bleeding": -2.2, "drilling": -2.2, "fading": -1.4, "hedge": -0.4, "hedging": -0.4,
    "oversold": 1.2, "overbought": -1.2, "support": 0.8, "resistance": -0.4, "rejected": -1.6,
    "higher": 1.0, "lower": -1.0, "up": 0.8, "down": -0.8, "gains": 1.8, "losses": -1.8,
    "rekt": -3.0, "bagholder": -2.4, "bagholders": -2.4, "bagholding": -2.4, "rug": -2.8,
    "tendies": 2.4, "yolo": 0.8, "printing": 2.0, "fomo": 0.8, "capitulation": -2.4,
    "dip": -0.6, "weak": -1.8, "strong": 1.8, "ath": 2.0, "wipeout": -3.0,
}

PHRASES: dict[str, float] = {
    "price target raised": 2.6, "raised price target": 2.6, "price target cut": -2.6,
    "cut price target": -2.6, "beat estimates": 2.6, "beats estimates": 2.6,
    "missed estimates": -2.6, "misses estimates": -2.6, "raised guidance": 2.6,
    "raises guidance": 2.6, "guidance raised": 2.6, "guidance cut": -2.6,
    "cuts guidance": -2.6, "lowered guidance": -2.6, "all time high": 2.4,
    "all-time high": 2.4, "to the moon": 3.0, "buy the dip": 2.0, "buying the dip": 2.0,
    "short squeeze": 2.4, "dead cat bounce": -2.2, "bull trap": -2.2, "bear trap": 2.0,
    "rug pull": -3.0, "rug pulled": -3.0, "iv crush": -1.6, "buying calls": 2.4,
    "loading calls": 2.6, "loaded calls": 2.4, "buying puts": -2.4, "loading puts": -2.6,
    "loaded puts": -2.4, "diamond hands": 1.8, "paper hands": -1.2, "going up": 1.8,
    "going down": -1.8, "new highs": 2.2, "new lows": -2.2, "breaking out": 2.4,
    "breaking down": -2.4, "sell off": -2.4, "record revenue": 2.6, "record high": 2.4,
    "record low": -2.4, "stop loss hit": -1.8, "calls printing": 2.8, "puts printing": -2.8,
}

# emoji -> (token that replaces it, weight)
EMOJI: dict[str, tuple[str, float]] = {
    "🚀": ("zzemojirocket", 2.6), "🌙": ("zzemojimoon", 1.8), "💎": ("zzemojidiamond", 1.4),
    "🙌": ("zzemojihands", 0.6), "📈": ("zzemojichartup", 2.2), "🐂": ("zzemojibull", 2.2),
    "📉": ("zzemojichartdown", -2.2), "🐻": ("zzemojibear", -2.2), "🌈": ("zzemojirainbow", -0.8),
    "🩸": ("zzemojiblood", -2.0), "💀": ("zzemojiskull", -1.8), "🔥": ("zzemojifire", 1.2),
    "🤡": ("zzemojiclown", -1.2), "💸": ("zzemojimoneyfly", -0.8),
}
