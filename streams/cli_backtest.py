"""``stocktracker backtest`` and ``stocktracker record``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from streams.settings import Settings


def _us(moment: datetime) -> int:
    """µs since the epoch; a time without a zone is New York time (the exchange's)."""
    if moment.tzinfo is None:
        from domain.contracts import NEW_YORK

        moment = moment.replace(tzinfo=NEW_YORK)
    return int(moment.timestamp() * 1_000_000)


def _settings(config: Path | None) -> Settings:
    """Settings from the environment, then ``--config`` (a ``.env``-style file) over them."""
    from streams.cli import _settings as from_env

    if config is None:
        return from_env()
    import os

    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(config).items() if v is not None}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        return from_env()
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


TIME = click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"])


@click.command()
@click.option("--from", "start", type=TIME, default=None, help="Recorded range start (New York "
              "time unless a zone is given).")
@click.option("--to", "end", type=TIME, default=None, help="Recorded range end (exclusive).")
@click.option("--synthetic-days", type=int, default=None, help="Generated sessions instead.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--shuffle-posts", is_flag=True, help="Generated posts without information.")
@click.option("--rescore", is_flag=True, help="Score recorded posts again (no recorded scores).")
@click.option("--config", type=click.Path(exists=True, path_type=Path), default=None,
              help="A .env-style file of settings for this run (over the environment).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), required=True,
              help="Directory for report.json and report.html.")
def backtest(start: datetime | None, end: datetime | None, synthetic_days: int | None, seed: int,
             shuffle_posts: bool, rescore: bool, config: Path | None, report_dir: Path) -> None:
    """Replay recorded topics (--from/--to) or generated days through the agents with the
    simulated broker, and write the report."""
    from streams.backtest import recorded_items, run_backtest, sessions_before, synthetic_items

    settings = _settings(config)
    if (synthetic_days is None) == (start is None):
        raise click.UsageError("give either --from/--to or --synthetic-days")
    if synthetic_days is not None:
        if synthetic_days < 1:
            raise click.UsageError("--synthetic-days must be at least 1")
        days = sessions_before(datetime.now(UTC).date(), synthetic_days)
        items = synthetic_items(days, seed, shuffle_posts)
        score_posts = True
        extra = {"source": "synthetic", "days": [d.isoformat() for d in days], "seed": seed,
                 "shuffle_posts": shuffle_posts}
    else:
        if start is None or end is None:
            raise click.UsageError("--from needs --to")
        from schemas.codec import make_codec

        codec = make_codec(settings.stream.schema_registry_url)
        try:
            items, score_posts = recorded_items(settings, codec, _us(start), _us(end), rescore)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        extra = {"source": "recorded", "from": start.isoformat(), "to": end.isoformat(),
                 "rescored": score_posts}
    result = run_backtest(settings, items, rescore=score_posts, title="backtest", extra=extra)
    json_path, html_path = result.write(report_dir)
    r = result.report
    click.echo(f"{r['trades']} trades, total return {r['total_return'] or 0:+.2%}, "
               f"Sharpe {r['sharpe'] or 0:.2f}, max drawdown {r['max_drawdown'] or 0:.2%}, "
               f"win rate {(r['win_rate'] or 0):.0%}\n{json_path}\n{html_path}")


@click.command()
@click.option("--retention-ms", type=int, default=-1, show_default=True,
              help="retention.ms of posts, scores and quotes (-1: keep everything).")
@click.option("--export-from", type=TIME, default=None, help="Export a range from here...")
@click.option("--export-to", type=TIME, default=None, help="... to here (exclusive).")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("recording"),
              show_default=True, help="Where the export's <topic>.jsonl files go.")
def record(retention_ms: int, export_from: datetime | None, export_to: datetime | None,
           directory: Path) -> None:
    """Keep the recorded topics (posts, scores, quotes), and export a time range to files."""
    from connectors.replay.recorded import export_range, keep_forever, read_range
    from schemas.codec import make_codec

    settings = _settings(None)
    k = settings.kafka
    names = keep_forever(k.bootstrap_servers, k.topic_prefix, retention_ms=retention_ms)
    click.echo(f"retention.ms={retention_ms} on {', '.join(names)}")
    if (export_from is None) != (export_to is None):
        raise click.UsageError("--export-from and --export-to go together")
    if export_from is not None and export_to is not None:
        codec = make_codec(settings.stream.schema_registry_url)
        counts = export_range(read_range(k.bootstrap_servers, k.topic_prefix, codec,
                                         _us(export_from), _us(export_to)), directory)
        click.echo(f"exported {counts} into {directory}")



