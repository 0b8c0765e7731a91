"""X filtered-stream rules: which rules we want, and how to get there from what is set.

Rules are ours when their tag starts with :data:`TAG_PREFIX`; rules somebody else added to
the same app (other tags, or none) are never touched. Both functions are pure: the source
fetches the rules, asks :func:`diff_rules` what to change and sends that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TAG_PREFIX = "stocktracker:"
MAX_RULE_LENGTH = 512  # X's limit for the Basic/Pro filtered stream
FILTERS = "lang:en -is:retweet"
_BARE_TERM = re.compile(r"^[A-Za-z0-9_#$]+$")


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule we want on the stream."""

    value: str
    tag: str


@dataclass(frozen=True, slots=True)
class ExistingRule:
    """A rule the API says is set."""

    id: str
    value: str
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class RulesDiff:
    """What to send: rules to add and ids of rules to delete."""

    add: tuple[Rule, ...] = ()
    delete: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the stream's rules are already as wanted."""
        return not self.add and not self.delete


def _term(word: str) -> str:
    """A keyword as X's rule syntax wants it: bare if it is one token, else quoted."""
    word = word.strip()
    return word if _BARE_TERM.match(word) else '"' + word.replace('"', "") + '"'


def build_rules(tickers: Iterable[str], keywords: Sequence[str]) -> tuple[Rule, ...]:
    """The rules for ``tickers``: per ticker its cashtag, and its symbol next to a keyword.

    ``$SPY lang:en -is:retweet`` (tag ``stocktracker:cashtag:SPY``) and
    ``SPY (0DTE OR options OR calls OR puts) lang:en -is:retweet``
    (tag ``stocktracker:terms:SPY``); the second only when ``keywords`` is not empty.

    Raises
    ------
    ValueError
        When a rule would be longer than X accepts (too many keywords).
    """
    rules: list[Rule] = []
    terms = " OR ".join(_term(k) for k in keywords if k.strip())
    for ticker in dict.fromkeys(t.strip().upper() for t in tickers if t.strip()):
        rules.append(Rule(f"${ticker} {FILTERS}", f"{TAG_PREFIX}cashtag:{ticker}"))
        if terms:
            rules.append(Rule(f"{ticker} ({terms}) {FILTERS}", f"{TAG_PREFIX}terms:{ticker}"))
    for rule in rules:
        if len(rule.value) > MAX_RULE_LENGTH:
            raise ValueError(f"X rule {rule.tag} is {len(rule.value)} characters (max "
                             f"{MAX_RULE_LENGTH}): shorten INGEST_X_KEYWORDS")
    return tuple(rules)


def diff_rules(wanted: Sequence[Rule], existing: Sequence[ExistingRule],
               prefix: str = TAG_PREFIX) -> RulesDiff:
    """What to change so that the stream carries ``wanted``.

    Our rules (tag starting with ``prefix``) that are not wanted, or that repeat a kept
    one, are deleted; wanted rules whose value is not set yet are added. A rule with the
    same value but a foreign tag is left alone and not added again: X refuses duplicate
    values, and the foreign rule already brings those posts.
    """
    wanted_set = set(wanted)
    kept: set[Rule] = set()
    delete: list[str] = []
    for rule in existing:
        if rule.tag is None or not rule.tag.startswith(prefix):
            continue
        key = Rule(rule.value, rule.tag)
        if key in wanted_set and key not in kept:
            kept.add(key)
        else:
            delete.append(rule.id)
    deleted = set(delete)
    present = {rule.value for rule in existing if rule.id not in deleted}
    add = tuple(dict.fromkeys(r for r in wanted if r.value not in present))
    return RulesDiff(add=add, delete=tuple(delete))
