"""``stocktracker backtest`` and ``stocktracker record``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from stocktracker.streams.core.settings import Settings


def _us(moment: datetime) -> int:
    """µs since the epoch; a time without a zone is New York time (the exchange's)."""
    if moment.tzinfo is None:
        from stocktracker.domain.contracts import NEW_YORK

        moment = moment.replace(tzinfo=NEW_YORK)
    return int(moment.timestamp() * 1_000_000)


def _settings(config: Path | None) -> Settings:
    """Settings from the environment, with ``--config`` (a ``.env``-style file) over them."""
    from stocktracker.streams.commands.research import settings_with

    return settings_with(_config_values(config))


def _config_values(config: Path | None) -> dict[str, str]:
    if config is None:
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(config).items() if v is not None}


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
@click.option("--topics/--no-topics", "write_topics", default=None,
              help="Write every record of the run into topics of its own (bt-<run>.*); "
              "default: on for a recorded range, off for generated days.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), required=True,
              help="Directory for report.json and report.html.")
def backtest(start: datetime | None, end: datetime | None, synthetic_days: int | None, seed: int,
             shuffle_posts: bool, rescore: bool, config: Path | None, write_topics: bool | None,
             report_dir: Path) -> None:
    """Replay recorded topics (--from/--to) or generated days through the agents with the
    simulated broker, and write the report."""
    from stocktracker.streams.commands.backtest import mirror, recorded_items, run_backtest, synthetic_items

    settings = _settings(config)
    if (synthetic_days is None) == (start is None):
        raise click.UsageError("give either --from/--to or --synthetic-days")
    if synthetic_days is not None:
        days = _generated_days(synthetic_days)
        items = synthetic_items(days, seed, shuffle_posts)
        score_posts = True
        extra = {"source": "synthetic", "days": [d.isoformat() for d in days], "seed": seed,
                 "shuffle_posts": shuffle_posts}
    else:
        if start is None or end is None:
            raise click.UsageError("--from needs --to")
        from stocktracker.schemas.codec import make_codec

        codec = make_codec(settings.stream.schema_registry_url)
        try:
            items, score_posts = recorded_items(settings, codec, _us(start), _us(end), rescore)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        extra = {"source": "recorded", "from": start.isoformat(), "to": end.isoformat(),
                 "rescored": score_posts}
    if write_topics is None:
        write_topics = synthetic_days is None
    run_prefix = f"bt-{uuid.uuid4().hex[:10]}." if write_topics else None
    if run_prefix:
        extra["run_prefix"] = run_prefix
    result = run_backtest(settings, items, rescore=score_posts, title="backtest", extra=extra,
                          keep_all=write_topics)
    if run_prefix:
        counts = mirror(result.outcome, settings, run_prefix)
        click.echo(f"wrote {sum(counts.values())} records into {run_prefix}*")
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
    from stocktracker.connectors.replay.recorded import export_range, keep_forever, read_range
    from stocktracker.schemas.codec import make_codec

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





def _space(params: tuple[str, ...]) -> dict[str, Any]:
    """``NAME=v1,v2,...`` (choices) or ``NAME=low:high`` (a range, for --random)."""
    space: dict[str, Any] = {}
    for param in params:
        name, sep, values = param.partition("=")
        if not sep or not name or not values:
            raise click.UsageError(f"--param {param!r}: use NAME=v1,v2 or NAME=low:high")
        if ":" in values and "," not in values:
            low, high = values.split(":", 1)
            space[name.upper()] = (_number(low), _number(high))
        else:
            space[name.upper()] = [v.strip() for v in values.split(",") if v.strip()]
    return space


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _generated_days(synthetic_days: int) -> list[date]:
    """The sessions to generate: the last ``synthetic_days`` before today (which days to
    simulate is the command's input, not the pipeline's clock)."""
    from stocktracker.streams.commands.backtest import sessions_before

    if synthetic_days < 1:
        raise click.UsageError("--synthetic-days must be at least 1")
    return sessions_before(datetime.now(UTC).date(), synthetic_days)


def _write(report_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    from stocktracker.streams.commands.backtest_report import json_safe

    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / name
    path.write_text(json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")
    return path


DAY = click.DateTime(["%Y-%m-%d"])
RESEARCH = [
    click.option("--synthetic-days", type=int, default=None, help="Generated sessions..."),
    click.option("--from", "first", type=DAY, default=None,
                 help="... or the recorded sessions from this day..."),
    click.option("--to", "last", type=DAY, default=None, help="... to this day (included)."),
    click.option("--seed", type=int, default=7, show_default=True),
    click.option("--shuffle-posts", is_flag=True),
    click.option("--workers", type=int, default=2, show_default=True, help="Processes."),
    click.option("--config", type=click.Path(exists=True, path_type=Path), default=None,
                 help="A .env-style file of settings under every configuration."),
    click.option("--report", "report_dir", type=click.Path(path_type=Path), required=True),
]


def research_options(fn: Any) -> Any:
    """The options every research command takes."""
    for option in reversed(RESEARCH):
        fn = option(fn)
    return fn


def _research_days(synthetic_days: int | None, first: datetime | None, last: datetime | None,
                   config: Path | None) -> tuple[list[date], dict[str, Any]]:
    """The days a research command replays, and how (``Job`` fields): generated sessions,
    or the recorded sessions of a date range."""
    if (synthetic_days is None) == (first is None and last is None):
        raise click.UsageError("give either --synthetic-days or --from/--to")
    if synthetic_days is not None:
        return _generated_days(synthetic_days), {"source": "synthetic"}
    if first is None or last is None:
        raise click.UsageError("--from needs --to")
    from stocktracker.streams.commands.backtest import recorded_days

    try:
        days = recorded_days(_settings(config), first.date(), last.date())
    except ValueError as exc:  # no recorded topics
        raise click.ClickException(str(exc)) from exc
    if not days:
        raise click.ClickException(f"nothing recorded in the sessions from {first.date()} to "
                                   f"{last.date()}")
    return days, {"source": "recorded"}


@click.command()
@click.option("--param", "params", multiple=True, required=True,
              help="NAME=v1,v2 (grid) or NAME=low:high (with --random); repeatable.")
@click.option("--random", "random_n", type=int, default=None, help="Draw N configurations.")
@click.option("--random-seed", type=int, default=0, show_default=True)
@click.option("--metric", default="sharpe", show_default=True)
@research_options
def sweep(params: tuple[str, ...], random_n: int | None, random_seed: int, metric: str,
          synthetic_days: int | None, first: datetime | None, last: datetime | None, seed: int,
          shuffle_posts: bool, workers: int, config: Path | None, report_dir: Path) -> None:
    """Backtest every configuration of a grid (or N random draws), in parallel; rank them."""
    from stocktracker.domain.research import grid, random_sample
    from stocktracker.streams.commands.research import ranked, run_jobs
    from stocktracker.streams.commands.research import sweep as make_jobs

    space = _space(params)
    if random_n is None and any(isinstance(v, tuple) for v in space.values()):
        raise click.UsageError("a low:high range needs --random N")
    configs = random_sample(space, random_n, random_seed) if random_n else grid(space)
    days, how = _research_days(synthetic_days, first, last, config)
    jobs = make_jobs(configs, days, _config_values(config), seed=seed,
                     shuffle_posts=shuffle_posts, **how)
    results = ranked(run_jobs(jobs, workers), metric)
    path = _write(report_dir, "sweep.json", {"metric": metric, "results": results})
    for r in results[:10]:
        rep = r["report"]
        click.echo(f"{metric}={rep.get(metric)}  return={rep['total_return']}  "
                   f"trades={rep['trades']}  {r['params']}")
    click.echo(str(path))


@click.command("walk-forward")
@click.option("--param", "params", multiple=True, required=True, help="NAME=v1,v2; repeatable.")
@click.option("--train", type=int, default=3, show_default=True, help="Days to choose on.")
@click.option("--test", type=int, default=1, show_default=True, help="Days to test on next.")
@click.option("--metric", default="sharpe", show_default=True)
@research_options
def walk_forward(params: tuple[str, ...], train: int, test: int, metric: str,
                 synthetic_days: int | None, first: datetime | None, last: datetime | None,
                 seed: int, shuffle_posts: bool, workers: int, config: Path | None,
                 report_dir: Path) -> None:
    """Choose the best configuration on each train window, test it on the next days."""
    from stocktracker.domain.research import grid
    from stocktracker.streams.commands.research import walk_forward_run

    days, how = _research_days(synthetic_days, first, last, config)
    try:
        result = walk_forward_run(grid(_space(params)), days, train, test,
                                  _config_values(config), metric, workers, True,
                                  seed=seed, shuffle_posts=shuffle_posts, **how)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    path = _write(report_dir, "walk_forward.json", result)
    for split in result["splits"]:
        click.echo(f"test {','.join(split['test'])}: {split['chosen']} -> "
                   f"return {split['test_report']['total_return']}")
    click.echo(f"out-of-sample return {result['out_of_sample_return']:+.2%}\n{path}")


@click.command()
@click.option("--a", "config_a", type=click.Path(exists=True, path_type=Path), required=True,
              help="Configuration A (.env-style file).")
@click.option("--b", "config_b", type=click.Path(exists=True, path_type=Path), required=True,
              help="Configuration B.")
@research_options
def ab(config_a: Path, config_b: Path, synthetic_days: int | None, first: datetime | None,
       last: datetime | None, seed: int, shuffle_posts: bool, workers: int,
       config: Path | None, report_dir: Path) -> None:
    """Two configurations on the same replay: B - A per day, with a bootstrap interval."""
    from stocktracker.streams.commands.research import ab_run

    base = _config_values(config)
    days, how = _research_days(synthetic_days, first, last, config)
    result = ab_run({**base, **_config_values(config_a)}, {**base, **_config_values(config_b)},
                    days, workers, True, seed=seed, shuffle_posts=shuffle_posts, **how)
    path = _write(report_dir, "ab.json", result)
    d = result["difference"]
    click.echo(f"B - A: {d['mean_daily']:+.4%} a day over {d['days']} days, 95% interval "
               f"[{d['ci_low']:+.4%}, {d['ci_high']:+.4%}], p={d['p_value']:.3f}"
               f"{' (significant)' if d['significant'] else ''}\n{path}")
