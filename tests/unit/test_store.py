"""The worker's RocksDB store: Faust's, except that a rebalance revoking nothing open here
does not run a full garbage collection (seconds of blocked event loop in a worker with torch
loaded, which a new owner spent before it could trade)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust.stores.rocksdb
import pytest
from faust.types import TP

from streams.pipeline import Pipeline
from streams.settings import Settings
from streams.store import LeanRocksDBStore, store_url


def test_only_rocksdb_urls_are_redirected() -> None:
    assert store_url("rocksdb://") == "rocksdb-lean://"
    assert store_url("rocksdb:///var/tables") == "rocksdb-lean:///var/tables"
    assert store_url("memory://") == "memory://"


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full collections Faust's RocksDB store asks for."""
    calls: list[int] = []
    real = faust.stores.rocksdb.gc.collect

    def counted(*args: Any) -> int:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(faust.stores.rocksdb.gc, "collect", counted)
    return calls


def test_the_worker_tables_use_it_and_revoke_without_collecting_when_nothing_is_open(
        run_settings: Callable[..., Settings], collections: list[int]) -> None:
    pipeline = Pipeline(run_settings(), ensemble=None)
    table = pipeline.tables.positions
    store = table.data
    assert isinstance(store, LeanRocksDBStore)
    [changelog] = table.changelog_topic.topics
    store.revoke_partitions(table, {TP(changelog, 0), TP("another-topic", 0)})
    assert collections == [], "nothing was open: no collection"
    store._db_for_partition(0)  # what assign_partitions opens for an active partition
    assert 0 in store._dbs
    store.revoke_partitions(table, {TP(changelog, 0)})
    assert 0 not in store._dbs, "an open partition is still closed when revoked"
    assert collections == [1]
