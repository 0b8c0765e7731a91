"""``stocktracker``: one command with a subcommand per process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
from pydantic import ValidationError

from stocktracker.streams.core.logs import FORMATS, secrets_of, setup_logging
from stocktracker.streams.core.settings import SECTIONS, Settings, UnknownSettingError, load_settings
from stocktracker.streams.venues import VENUE_SETTINGS


def _settings() -> Settings:
    try:
        return load_settings(sections=SECTIONS + VENUE_SETTINGS)
    except (ValidationError, UnknownSettingError) as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc


def _secret_values() -> list[str]:
    """The values of every secret setting, the venues' too, for the log mask; a section
    that does not load gives none (the command that reads it then says why)."""
    loaded: list[object] = []
    try:
        loaded.append(load_settings(sections=SECTIONS + VENUE_SETTINGS))
    except (ValidationError, UnknownSettingError):
        pass
    for section in VENUE_SETTINGS:
        try:
            loaded.append(section())
        except ValidationError:
            pass
    return secrets_of(loaded)


@dataclass(frozen=True)
class LogOptions:
    """The group's logging choices, handed to commands that set up logging again."""

    format: str
    secrets: tuple[str, ...]


@click.group()
@click.option("--log-level", default="INFO", show_default=True, envvar="STOCKTRACKER_LOG_LEVEL")
@click.option("--log-format", type=click.Choice(FORMATS, case_sensitive=False), default="text",
              show_default=True, envvar="STOCKTRACKER_LOG_FORMAT",
              help="text lines, or one JSON object per line; secrets are masked in both.")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str) -> None:
    """stock-tracker: sentiment-driven 0DTE options trading on Kafka."""
    secrets = tuple(_secret_values())
    try:
        setup_logging(log_level, log_format, secrets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-level") from exc
    ctx.obj = LogOptions(log_format, secrets)


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) for development and tests."""


@kafka.command("up")
def kafka_up() -> None:
    """Start the broker (resolving the jars first if needed) and wait until it answers."""
    from stocktracker.streams.commands import kafka_local

    cfg = kafka_local.config_from_env()
    pid = kafka_local.up(cfg)
    click.echo(f"kafka answering at {cfg.bootstrap} (pid {pid or 'not ours'})")


@kafka.command("down")
def kafka_down() -> None:
    """Stop the broker that `kafka up` started (and nothing else)."""
    from stocktracker.streams.commands import kafka_local

    stopped = kafka_local.down(kafka_local.config_from_env())
    click.echo("stopped" if stopped else "no broker of ours was running")


@kafka.command("status")
def kafka_status() -> None:
    """Print the local broker's status as JSON."""
    from stocktracker.streams.commands import kafka_local

    click.echo(json.dumps(kafka_local.status(kafka_local.config_from_env()), default=str))


@main.command()
@click.option("--loglevel", default="info", show_default=True, envvar="STOCKTRACKER_LOG_LEVEL")
@click.option("--live", is_flag=True,
              help="Trade the LIVE Alpaca account (also needs TRADING_MODE=live).")
@click.pass_obj
def worker(log: LogOptions, loglevel: str, live: bool) -> None:
    """Run a Faust worker (docs/architecture.md, "Workers and ownership").

    Its log lines take the group's --log-format (or STOCKTRACKER_LOG_FORMAT).
    """
    from stocktracker.streams.commands.worker import run_worker
    from stocktracker.streams.venues import LiveTradingRefused, UnknownVenue, check_live

    settings = _settings()
    try:
        check_live(settings, live)
    except (LiveTradingRefused, UnknownVenue) as exc:
        raise click.ClickException(str(exc)) from exc
    run_worker(settings, loglevel, live=live, log_format=log.format, secrets=log.secrets)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--speed", default=1.0, show_default=True,
              help="1 = recorded pace, N = N times faster, 0 = as fast as possible.")
def replay(files: tuple[Path, ...], speed: float) -> None:
    """Produce posts from JSONL files to the posts topic."""
    from stocktracker.connectors.replay.runner import file_items, run_replay
    from stocktracker.schemas.codec import make_codec
    from stocktracker.streams.commands.admin import ensure_topics
    from stocktracker.streams.core.producer import RecordProducer

    settings = _settings()
    k = settings.kafka
    ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
    producer = RecordProducer(k.bootstrap_servers, make_codec(settings.stream.schema_registry_url),
                              k.topic_prefix)
    for path in files:
        counts = run_replay(file_items(path), producer, speed)
        click.echo(f"{path}: {json.dumps(counts)}")


@main.command()
@click.option("--duration", type=float, default=None, help="Stop after S seconds.")
@click.option("--report", type=click.Path(path_type=Path), default=None,
              help="Write a JSON summary here.")
@click.option("--speed", type=float, default=None, help="Replay speed (default: fit duration).")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Session to generate (default: the last one before today).")
@click.option("--keep-topics", is_flag=True, help="Keep the run's topics afterwards.")
@click.option("--no-live", is_flag=True, help="No live display (for logs and CI).")
@click.option("--underlyings", default="SPY,QQQ", show_default=True,
              help="Generated and traded underlyings, comma-separated (SPY, QQQ, IWM, AAPL).")
def demo(duration: float | None, report: Path | None, speed: float | None, seed: int,
         day: object, keep_topics: bool, no_live: bool, underlyings: str) -> None:
    """Run everything on a built-in trading day: no keys needed."""
    from stocktracker.streams.commands.demo import DemoOptions, demo_underlyings, run_demo

    chosen = day.date() if day is not None else None  # type: ignore[attr-defined]
    assert chosen is None or isinstance(chosen, date)
    try:
        tickers = demo_underlyings(underlyings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--underlyings") from exc
    result = run_demo(_settings(), DemoOptions(duration, report, speed, seed, chosen,
                                                keep_topics, not no_live, tickers))
    click.echo(json.dumps({"counts": result["counts"], "pnl": result["pnl"],
                           "post_to_order_ms": result["latency_ms"].get("post_to_order")},
                          default=lambda v: None))


@main.command()
@click.option("--source", "only", multiple=True, type=click.Choice(["x", "reddit"]),
              help="Run only these sources (default: INGEST_SOURCES).")
def ingest(only: tuple[str, ...]) -> None:
    """Stream live X and Reddit posts, cleaned, deduplicated and ranked, into Kafka.

    A source without credentials is skipped with a message; SIGINT/SIGTERM stops it after
    flushing what was received.
    """
    import asyncio

    from stocktracker.connectors.ingest import IngestService, processor_from_settings, run_until_signalled
    from stocktracker.schemas.codec import make_codec
    from stocktracker.streams.commands.admin import ensure_topics
    from stocktracker.streams.core.producer import RecordProducer
    from stocktracker.streams.venues import build_sources

    settings = _settings()
    sources, skipped = build_sources(settings, only or settings.ingest.sources)
    for message in skipped:
        click.echo(message, err=True)
    if not sources:
        raise click.ClickException("no source to run: every source was skipped (see above)")
    k = settings.kafka
    ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
    producer = RecordProducer(k.bootstrap_servers, make_codec(settings.stream.schema_registry_url),
                              k.topic_prefix)
    service = IngestService(settings.ingest, sources, producer,
                            processor_from_settings(settings.ingest, settings.signal.tickers))
    click.echo(f"ingesting from {', '.join(s.name for s in sources)}", err=True)
    asyncio.run(run_until_signalled(service))
    click.echo(json.dumps(dict(service.counts)))


@main.command()
@click.option("--host", default=None, help="Listen address (default: WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: WEB_PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the dashboard: REST, Socket.IO events and the page (reads the topics, writes
    only operator commands to `control`)."""
    from stocktracker.web.app import run
    from stocktracker.web.auth import check_settings

    settings = _settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=overrides)})
    try:
        check_settings(settings.web)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    from confluent_kafka import KafkaException

    from stocktracker.streams.commands.admin import ensure_topics

    k = settings.kafka
    try:  # commands go to `control`, which may not exist before the first worker
        ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication,
                      timeout=5.0)
    except (KafkaException, RuntimeError) as exc:
        click.echo(f"topics not checked (Kafka: {exc}); the dashboard shows Kafka's state",
                   err=True)
    control = "on" if settings.web.token is not None else "off (no WEB_TOKEN)"
    click.echo(f"dashboard on http://{settings.web.host}:{settings.web.port} (control {control})",
               err=True)
    run(settings)


@main.command("eval-sentiment")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write {model: {accuracy, macro_f1, ms_per_text, neutral_share, per_class, "
                   "confusion, ...}} here.")
@click.option("--concurrency", default=8, show_default=True, help="Posts scored at once.")
@click.option("--two-class", is_flag=True,
              help="A set of bullish/bearish tags only: a neutral answer is a miss; per-class "
                   "figures for bullish and bearish.")
@click.option("--choose-bands", is_flag=True,
              help="Pick each model's neutral band on this (dev) set by macro-F1 "
                   "(0 to 0.5, step 0.025) and print them as settings lines.")
def eval_sentiment(csv_file: Path, json_path: Path | None, concurrency: int, two_class: bool,
                   choose_bands: bool) -> None:
    """Accuracy, macro-F1, neutral share, per-class figures, confusion and latency of each
    model and the ensemble on a labelled CSV.

    The CSV has text,label rows (0 bearish, 1 bullish, 2 neutral). The models are those the
    settings enable (hosted LLMs need keys), each labelled with its band from the settings;
    the LLM budget and relevance bar are lifted. Choose bands on dev, then report them on
    holdout with the printed settings.
    """
    import asyncio

    from stocktracker.domain.evaluation import LABELS, TWO_CLASS
    from stocktracker.sentiment.ensemble import ensemble_from_settings, model_bands
    from stocktracker.sentiment.evaluate import (
        Answers,
        collect,
        details,
        figures_of,
        read_labelled,
        settings_lines,
        table,
    )
    from stocktracker.sentiment.evaluate import choose_bands as choose

    try:
        rows = read_labelled(csv_file, two_class)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    sentiment = _settings().sentiment.model_copy(
        update={"llm_calls_per_minute": 10**9, "llm_min_relevance": 0.0})
    labels = TWO_CLASS if two_class else LABELS

    async def run() -> Answers:
        ensemble = ensemble_from_settings(sentiment)
        try:
            return await collect(rows, ensemble, concurrency)
        finally:
            await ensemble.close()

    answers = asyncio.run(run())
    figures = figures_of(answers, labels)
    mode = " (two-class: neutral answers are misses)" if two_class else ""
    click.echo(f"{csv_file}: {len(rows)} posts{mode}\n{table(figures)}\n\n{details(figures)}")
    report = {m: f.as_dict() for m, f in figures.items()}
    if choose_bands:
        bands = {**model_bands(sentiment), "ensemble": sentiment.neutral_band}
        chosen = choose(answers, bands, labels)
        click.echo(f"\nneutral bands chosen by macro-F1 on {csv_file}:\n{settings_lines(chosen)}")
        for model, c in chosen.items():
            report[model].update({"chosen_band": c.band, "chosen_band_macro_f1": round(c.macro_f1, 4)})
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


def _register_backtest_commands() -> None:
    from stocktracker.streams.commands.cli_backtest import ab, backtest, record, sweep, walk_forward
    from stocktracker.streams.commands.cli_day import replay_day
    from stocktracker.streams.commands.cli_import import import_group
    from stocktracker.streams.commands.cli_skill import fit_weights, skill

    for command in (backtest, record, sweep, walk_forward, ab, skill, fit_weights, replay_day,
                    import_group):
        main.add_command(command)


_register_backtest_commands()

if __name__ == "__main__":
    main()
