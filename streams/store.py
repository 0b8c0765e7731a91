"""Faust's RocksDB table store, without a full garbage collection on every rebalance.

faust-streaming's RocksDB store ends ``revoke_partitions`` with ``gc.collect()`` (it leaves
closing a revoked partition's database to the collector), for every table, on every
rebalance, whether it closed anything or not. In a worker that has torch and transformers
loaded a full collection takes 0.2 s on an idle core; with nine tables that is 2 s and more
of a blocked event loop per rebalance, measured as up to 4.7 s on two busy cores in the
chaos bench: most of what a new owner spent "recovering" after a failover. This store
collects only when a revoked partition's database was actually open here.

``STREAM_STORE=rocksdb://`` (the default) selects it (:func:`store_url`); ``memory://``
and any other store are left as they are.
"""

from __future__ import annotations

from faust.stores import STORES
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP, CollectionT

SCHEME = "rocksdb-lean"
"""The store URL scheme registered with Faust for :class:`LeanRocksDBStore`."""


class LeanRocksDBStore(RocksDBStore):
    """Faust's RocksDB store; revoking partitions whose database is not open here does
    nothing (no ``gc.collect()``)."""

    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        """Close the databases of revoked partitions that are open here, if any."""
        topics = table.changelog_topic.topics
        if any(tp.topic in topics and tp.partition in self._dbs for tp in tps):
            super().revoke_partitions(table, tps)


def store_url(url: str) -> str:
    """The store URL a worker uses for ``url``: ``rocksdb://…`` becomes the lean store's
    (same path and options, registered with Faust on first use); others are unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme != "rocksdb" or not sep:
        return url
    STORES.aliases.setdefault(SCHEME, f"{__name__}:{LeanRocksDBStore.__name__}")
    return f"{SCHEME}://{rest}"
