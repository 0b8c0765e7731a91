"""``stocktracker import posts``: files of past posts into the ``posts`` topic;
``stocktracker import market``: Alpaca's history into ``quotes``.

The reading and processing are :mod:`connectors.history` (the live ingest's chain, on event
time); this module is the commands' glue: arguments, settings, topics, the report.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stocktracker.connectors.history.formats import FORMATS

if TYPE_CHECKING:
    from stocktracker.streams.core.producer import RecordProducer
    from stocktracker.streams.core.settings import Settings


@click.group("import")
def import_group() -> None:
    """Bring past data into the topics (for backtests and research)."""


@import_group.command("posts")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="The format of every file (default: told per file from its name and first lines).")
@click.option("--tickers", default=None, metavar="SPY,QQQ",
              help="Tickers a post must mention (default: SIGNAL_TICKERS).")
def import_posts_command(files: tuple[Path, ...], fmt: str | None, tickers: str | None) -> None:
    """Import past posts (X API v2 search JSON, Reddit NDJSON dumps, .zst too, or CSV) into
    `posts`, each at its original time, through the live ingest's cleaning, language,
    ticker, dedup and relevance steps; malformed lines go to `deadletter`.

    Prints what became of each file's posts and the records the broker acknowledged; exits
    non-zero when a file could not be read or a record was not acknowledged.
    """
    from stocktracker.connectors.history.posts import ImportReport, import_posts
    from stocktracker.connectors.history.produce import produce_imported
    from stocktracker.connectors.ingest import processor_from_settings
    from stocktracker.streams.commands.cli import _settings

    settings = _settings()
    chosen = _tickers(tickers) if tickers is not None else settings.signal.tickers
    report = ImportReport()
    try:  # every file's format is settled here, before anything is produced
        items = import_posts(files, processor_from_settings(settings.ingest, chosen), report,
                             fmt=fmt)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    producer = topics_producer(settings)
    delivery = produce_imported(items, producer)
    click.echo(report.table())
    click.echo(json.dumps(delivery.as_dict()))
    if delivery.out_of_order:
        click.echo(f"{delivery.out_of_order} posts came after newer ones (a newest-first file?): "
                   "read them back with a time range that ends after the newest post "
                   "(docs/operations.md, \"Importing past posts\")", err=True)
    if delivery.error is not None:
        raise click.ClickException(delivery.error)
    if not delivery.complete:
        missing = sum(delivery.sent.values()) - sum(delivery.delivered.values())
        raise click.ClickException(f"the broker did not acknowledge {missing} records "
                                   f"({delivery.unsent} still queued, {delivery.failed} failed)")


def topics_producer(settings: Settings) -> RecordProducer:
    """A producer onto the settings' topics, created first if missing; a broker that cannot
    be reached is a clear error (an import writes nothing before it is settled)."""
    from confluent_kafka import KafkaException

    from stocktracker.schemas.codec import make_codec
    from stocktracker.streams.commands.admin import ensure_topics
    from stocktracker.streams.core.producer import RecordProducer

    k = settings.kafka
    try:
        ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
    except (KafkaException, RuntimeError) as exc:
        raise click.ClickException(f"Kafka at {k.bootstrap_servers}: {exc}") from exc
    return RecordProducer(k.bootstrap_servers, make_codec(settings.stream.schema_registry_url),
                          k.topic_prefix)


def _tickers(text: str) -> tuple[str, ...]:
    chosen = tuple(t.strip().upper() for t in text.split(",") if t.strip())
    if not chosen:
        raise click.BadParameter("name at least one ticker", param_hint="--tickers")
    return chosen


@import_group.command("market")
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="First day (New York date).")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day, included.")
@click.option("--underlying", "underlyings", multiple=True, metavar="SPY",
              help="An underlying (repeat for more; default: SIGNAL_TICKERS).")
@click.option("--strikes", type=click.IntRange(0, 50), default=None,
              help="Strikes each side of the open (default: IMPORT_STRIKES_EACH_SIDE).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Answers and done markers (default: IMPORT_CACHE_DIR).")
@click.option("--trades/--no-trades", default=None,
              help="Also the trades (default: IMPORT_TRADES).")
@click.option("--force", is_flag=True, help="Import days already marked done again.")
def import_market_command(first: datetime, last: datetime, underlyings: tuple[str, ...],
                          strikes: int | None, cache_dir: Path | None, trades: bool | None,
                          force: bool) -> None:
    """Import Alpaca's minute bars (and trades) of each session from --from to --to, of the
    underlyings and the 0DTE contracts around each day's open, as derived quotes on
    `quotes` at the market's own times (docs/operations.md, "Importing market history").

    Prints a row per underlying and day; exits non-zero when a day failed (rerun: the days
    done are skipped, the answers cached are not asked again).
    """
    from stocktracker.streams.commands.import_market import run_market_import

    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    chosen = tuple(u.strip().upper() for u in underlyings if u.strip())
    reports = run_market_import(first.date(), last.date(), chosen, strikes=strikes,
                                cache_dir=cache_dir, trades=trades, force=force)
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        for r in failed:
            click.echo(f"{r.day} {r.underlying}: {r.error}", err=True)
        raise click.ClickException(f"{len(failed)} day(s) failed; run the same command again "
                                   "to import them (the days done are skipped)")
