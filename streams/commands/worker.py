"""``stocktracker worker``: the Faust worker running every agent."""

from __future__ import annotations

from collections.abc import Sequence

from stocktracker.streams.core.logs import logging_config, secrets_of
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.pipeline import Pipeline


def run_worker(settings: Settings, loglevel: str = "info", live: bool = False, log_format: str = "text",
               secrets: Sequence[str] = ()) -> None:
    """Run the worker until SIGTERM/SIGINT (Faust stops it gracefully, flushing tables).

    Its logging is ours (:mod:`streams.core.logs`): ``log_format`` lines on stderr at
    ``loglevel``, masking the secrets of ``settings`` and the ``secrets`` given (the venues').
    """
    from faust.worker import Worker

    from stocktracker.streams.commands.admin import ensure_topics

    # mode clears the root logger's handlers at start and applies this config instead of its own.
    config = logging_config(loglevel, log_format, [*secrets_of(settings), *secrets])
    kafka = settings.kafka
    ensure_topics(kafka.bootstrap_servers, kafka.topic_prefix, kafka.partitions,
                  kafka.replication)
    pipeline = Pipeline(settings, live=live)
    worker = Worker(pipeline.app, loglevel=loglevel, quiet=True, logging_config=config)
    # Faust's start-up spinner sets the root logger to DEBUG (it turns on every record) and
    # stays: every debug call of aiokafka and Faust then builds a record that is dropped,
    # several per message sent (a few percent of the worker's time), and the spinner's
    # escape codes land in log files. Without it the root keeps ``loglevel``.
    worker.spinner = None
    worker.execute_from_commandline()
