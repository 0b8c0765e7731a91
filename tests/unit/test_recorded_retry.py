"""Offset lookups of recorded ranges ask again while a partition has no leader."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from stocktracker.connectors.replay.recorded import _retrying


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
