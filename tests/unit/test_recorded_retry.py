"""Offset lookups of recorded ranges: asked again while a partition has no leader; a range's
ends rounded to the broker's whole-ms timestamps so that no record inside it is missed."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from stocktracker.connectors.replay.recorded import _offsets_at, _retrying


class Flaky:
    """Fails with ``code`` the first ``failures`` calls, then answers."""

    def __init__(self, code: int, failures: int) -> None:
        self.code, self.failures, self.calls = code, failures, 0

    def __call__(self) -> tuple[int, int]:
        self.calls += 1
        if self.calls <= self.failures:
            raise KafkaException(KafkaError(self.code))
        return (0, 10)


def test_a_partition_without_a_leader_is_asked_again() -> None:
    flaky = Flaky(KafkaError.NOT_LEADER_FOR_PARTITION, failures=2)
    assert _retrying(flaky, timeout=5.0) == (0, 10) and flaky.calls == 3


def test_other_errors_and_the_timeout_are_not_swallowed() -> None:
    denied = Flaky(KafkaError.TOPIC_AUTHORIZATION_FAILED, failures=1)
    with pytest.raises(KafkaException):
        _retrying(denied, timeout=5.0)
    assert denied.calls == 1
    leaderless = Flaky(KafkaError.LEADER_NOT_AVAILABLE, failures=1000)
    with pytest.raises(KafkaException):
        _retrying(leaderless, timeout=0.5)
    assert 1 < leaderless.calls < 1000


class Partition:
    """A consumer's view of one partition whose records carry these ms timestamps: it
    answers offsets-for-times as the broker does (the first offset stamped at or after the
    time, -1 past the last)."""

    def __init__(self, stamps_ms: list[int]) -> None:
        self.stamps_ms = stamps_ms

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, len(self.stamps_ms)

    def offsets_for_times(self, asked: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        [tp] = asked
        at = next((n for n, ms in enumerate(self.stamps_ms) if ms >= tp.offset), -1)
        return [TopicPartition(tp.topic, tp.partition, at)]


def test_a_range_ending_a_microsecond_after_the_newest_record_holds_it() -> None:
    # the newest record's event time is 3_000_500 µs (stamped 3_000 ms); a range ending
    # 1 µs after it used to round its end down to 3_000 ms and leave the record out
    partition = Partition([1_000, 2_000, 3_000])
    consumer: Any = partition
    assert _offsets_at(consumer, "t", 0, (1_000_000, 3_000_501), 1.0) == (0, 3)
    assert _offsets_at(consumer, "t", 0, (1_000_000, 3_000_000), 1.0) == (0, 2)  # end excluded
    assert _offsets_at(consumer, "t", 0, (1_000_999, 2_000_001), 1.0) == (0, 2)
