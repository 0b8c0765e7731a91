"""``stocktracker worker``: the Faust worker running every agent."""

from __future__ import annotations

import logging

from stocktracker.streams.core.settings import Settings
from stocktracker.streams.pipeline import Pipeline


def run_worker(settings: Settings, loglevel: str = "warning", live: bool = False) -> None:
    """Run the worker until SIGTERM/SIGINT (Faust stops it gracefully, flushing tables)."""
    from faust.worker import Worker

    from stocktracker.streams.commands.admin import ensure_topics

    kafka = settings.kafka
    ensure_topics(kafka.bootstrap_servers, kafka.topic_prefix, kafka.partitions,
                  kafka.replication)
    pipeline = Pipeline(settings, live=live)
    logging.getLogger("faust").setLevel(loglevel.upper())
    worker = Worker(pipeline.app, loglevel=loglevel, quiet=True)
    # Faust's start-up spinner sets the root logger to DEBUG (it turns on every record) and
    # stays: every debug call of aiokafka and Faust then builds a record that is dropped,
    # several per message sent (a few percent of the worker's time), and the spinner's
    # escape codes land in log files. Without it the root keeps ``loglevel``.
    worker.spinner = None
    worker.execute_from_commandline()
