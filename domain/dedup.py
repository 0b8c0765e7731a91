"""Duplicate and near-duplicate posts within a rolling window, in bounded memory.

Pure: time is passed in; nothing is read from the clock.

Exact duplicates
    Posts whose text is the same once lower-cased and with whitespace collapsed, found
    by the 64-bit string hash of that form (salted per process, but two different texts
    share a hash with probability 2**-64, so the decisions do not depend on the salt).
    Links are part of the text here; the ingest chain removes them first with
    :func:`domain.text_clean.clean_text`, so there a repost with another link is an
    exact duplicate.
Near-duplicates
    Reposts with small edits, another link, extra emoji, spam variants. A post's
    features are its words (lower case; links, emoji and punctuation dropped; cashtags,
    numbers and apostrophes kept) and its adjacent word pairs, in its first
    :data:`MAX_CHARS` characters; the similarity of two posts is the Jaccard similarity
    of their feature sets, computed exactly. Candidates come from look-up keys, so a
    check compares with at most ``1 + KEYS`` remembered posts however many the window
    holds: one key for the sequence of words (a repost that differs only by emoji,
    links or punctuation has the same one) and the :data:`KEYS` smallest word-pair
    hashes (a bottom-k MinHash sketch: two posts whose pairs overlap by a fraction J
    share the smallest pair of their union with probability J, and with 6 draws miss
    each other rarely above J = 0.5). Each key points at the latest remembered post
    that had it.

Posts found new are remembered, and so are near-duplicates (under the id of the post
they repeat: a repost of a variant is found even when it is too far from the original);
exact duplicates add nothing and are not. A post is forgotten when it is ``window_s``
older than the time of a check, or when ``max_posts`` newer posts are remembered,
whichever comes first. A remembered post of 25 words takes about 2 KiB (an entry, a
hash, 7 keys, 50 features; never more than about 100 features, see :data:`MAX_CHARS`),
so ``max_posts`` bounds memory (50,000 such posts: about 100 MiB). The word-hash
memo is bounded separately (65,536 words).
Word hashes are BLAKE2b digests and pair hashes hashes of integer tuples, the same in
every process, so a replay makes the same decisions.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from itertools import pairwise
from typing import NamedTuple

KEYS = 6
"""Look-up keys per post from its word pairs (the smallest pair hashes)."""
MAX_CHARS = 320
"""Characters of a post that make its features, about 50 words (long posts are compared
on their beginning: two long posts that begin alike for this long are near-duplicates)."""
NEW = "new"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"

_URL = re.compile(r"(?:[hH](?<![\w][hH])(?i:ttps?://)|[wW](?<![\w][wW])(?i:ww\.))\S*")
_NOT_WORD = re.compile(r"[^\w\s$']+")
# The same for ASCII text, at C speed on bytes: punctuation but "$", "'" and "_" to space.
_ASCII_PUNCT_TO_SPACE = bytes(
    32 if chr(c) in "!\"#%&()*+,-./:;<=>?@[\\]^`{|}~" else c for c in range(256))
_WORD_MEMO_SIZE = 1 << 16


class Verdict(NamedTuple):
    """What :meth:`Deduplicator.check` found.

    Attributes
    ----------
    kind:
        ``"new"``, ``"duplicate"`` or ``"near_duplicate"``.
    of:
        Id of the remembered post this one repeats (``""`` when new).
    similarity:
        Jaccard similarity of the features to that post's (1.0 for an exact duplicate,
        0.0 when new).
    """

    kind: str
    of: str = ""
    similarity: float = 0.0


class _Entry(NamedTuple):
    seq: int
    at_s: float
    digest: int
    keys: list[int]
    features: tuple[int, ...]
    post_id: str


class Deduplicator:
    """Finds duplicates of recent posts.

    Parameters
    ----------
    window_s:
        How long a post is remembered, in seconds of the times passed to :meth:`check`.
    max_posts:
        The most posts remembered at once; beyond it the oldest is forgotten first.
    threshold:
        Jaccard similarity of features from which a post is a near-duplicate, in (0, 1].
    """

    def __init__(self, window_s: float = 600.0, max_posts: int = 50_000,
                 threshold: float = 0.7) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if max_posts < 1:
            raise ValueError("max_posts must be >= 1")
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.window_s = window_s
        self.max_posts = max_posts
        self.threshold = threshold
        self._entries: deque[_Entry] = deque()
        self._by_seq: dict[int, _Entry] = {}
        self._digests: dict[int, int] = {}
        self._keys: dict[int, int] = {}
        self._seq = 0
        self._word_hashes: dict[str | bytes, int] = {}

    def __len__(self) -> int:
        """Posts remembered now."""
        return len(self._entries)

    def index_size(self) -> int:
        """Entries held by the look-up indexes (posts, digests, keys), for memory checks."""
        return len(self._digests) + len(self._keys) + len(self._by_seq)

    def check(self, text: str, now_s: float, post_id: str = "") -> Verdict:
        """Classify a post, and remember it unless it is an exact duplicate.

        Parameters
        ----------
        text:
            The post's text (cleaned or not).
        now_s:
            The time of the check, in seconds (event time in a replay).
        post_id:
            The post's id, returned as ``of`` when a later post repeats it (``"#<n>"``,
            the n-th new post, when not given).

        Returns
        -------
        Verdict
            ``kind`` with the id of the post it repeats and the similarity.
        """
        entries = self._entries
        if entries and entries[0].at_s <= now_s - self.window_s:
            self._expire(now_s)
        normal = text.lower()
        if ("  " in normal or not normal.isprintable() or normal[:1] == " "
                or normal[-1:] == " "):  # not already collapsed (clean_text's output is)
            normal = " ".join(normal.split())
        digest = hash(normal)
        seq = self._digests.get(digest)
        if seq is not None:
            return Verdict(DUPLICATE, self._by_seq[seq].post_id, 1.0)
        features, keys = self._features(normal)
        if keys:
            best: _Entry | None = None
            best_similarity = 0.0
            seen: list[int] = []
            size = len(features)
            smallest, largest = size * self.threshold, size / self.threshold
            for key in keys:
                seq = self._keys.get(key)
                if seq is None or seq in seen:
                    continue
                seen.append(seq)
                other = self._by_seq[seq]
                if not smallest <= len(other.features) <= largest:
                    continue  # sizes alone rule the threshold out
                common = len(features.intersection(other.features))
                similarity = common / (size + len(other.features) - common)
                if similarity > best_similarity:
                    best, best_similarity = other, similarity
                    if common == size:
                        break
            if best is not None and best_similarity >= self.threshold:
                # remembered too (under the original's id): a repost of this variant is
                # then found even where it is too far from the original itself
                self._remember(now_s, digest, keys, tuple(features), best.post_id)
                return Verdict(NEAR_DUPLICATE, best.post_id, round(best_similarity, 4))
        self._remember(now_s, digest, keys, tuple(features), post_id)
        return Verdict(NEW)

    def _remember(self, now_s: float, digest: int, keys: list[int],
                  features: tuple[int, ...], post_id: str) -> None:
        self._seq += 1
        seq = self._seq
        entry = _Entry(seq, now_s, digest, keys, features, post_id or f"#{seq}")
        self._entries.append(entry)
        self._by_seq[seq] = entry
        self._digests[digest] = seq
        for key in keys:
            self._keys[key] = seq
        if len(self._entries) > self.max_posts:
            self._forget_oldest()

    def _expire(self, now_s: float) -> None:
        horizon = now_s - self.window_s
        entries = self._entries
        while entries and entries[0].at_s <= horizon:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        entry = self._entries.popleft()
        del self._by_seq[entry.seq]
        if self._digests.get(entry.digest) == entry.seq:
            del self._digests[entry.digest]
        index = self._keys
        for key in entry.keys:
            if index.get(key) == entry.seq:
                del index[key]

    def _features(self, normal: str) -> tuple[set[int], list[int]]:
        """Hashes of the post's words and adjacent word pairs, and its look-up keys.

        Both are empty when the post has no words.
        """
        if "//" in normal or "ww." in normal:
            normal = _URL.sub(" ", normal)
        if len(normal) > MAX_CHARS:
            normal = normal[:MAX_CHARS].rpartition(" ")[0] or normal[:MAX_CHARS]
        words: list[bytes] | list[str]
        if normal.isascii():
            words = normal.encode().translate(_ASCII_PUNCT_TO_SPACE).split()
        else:
            words = _NOT_WORD.sub(" ", normal).split()
        if not words:
            return set(), []
        memo = self._word_hashes
        if len(memo) > _WORD_MEMO_SIZE:
            memo.clear()
        hashes = [memo.get(word) or _remember_word(memo, word) for word in words]
        if len(hashes) == 1:
            return set(hashes), hashes
        pairs = set(map(hash, pairwise(hashes)))
        keys = [hash(tuple(hashes)), *sorted(pairs)[:KEYS]]
        pairs.update(hashes)
        return pairs, keys


def _remember_word(memo: dict[str | bytes, int], word: str | bytes) -> int:
    data = word.encode() if isinstance(word, str) else word
    h = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), signed=True) or 1
    memo[word] = h
    return h

