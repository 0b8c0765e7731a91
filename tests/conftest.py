"""Shared fixtures: a real Kafka broker for the session, settings for one test's run."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stocktracker.streams.core.settings import Settings

TEST_DAY = "2026-11-24"  # a full session (Tuesday before Thanksgiving)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker: $KAFKA_BOOTSTRAP_SERVERS if it answers, else one started here."""
    from stocktracker.streams.commands import kafka_local

    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given and kafka_local.is_answering(given):
        yield given
        return
    data_dir = Path(tempfile.mkdtemp(prefix="stocktracker-kafka-"))
    try:
        with kafka_local.throwaway(data_dir) as cfg:
            yield cfg.bootstrap
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def run_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for one isolated run: its own topic prefix, app id, data dir, web port."""
    from stocktracker.streams.commands.local_run import isolated_settings

    def make(bootstrap: str = "127.0.0.1:9092", store: str = "rocksdb://",
             **sections: Any) -> Settings:
        return isolated_settings(bootstrap, tmp_path, "t", store, **sections)

    return make
