"""``stocktracker skill`` and ``stocktracker fit-weights`` (logic: :mod:`streams.commands.skill`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.streams.commands.cli_backtest import TIME, _generated_days, _settings, _us
from stocktracker.streams.core.settings import Settings


def _items(settings: Settings, start: datetime | None, end: datetime | None,
           synthetic_days: int | None, seed: int, shuffle_posts: bool) -> tuple[list[ReplayItem], str]:
    """The range's recorded quotes, posts and scores, or generated days scored by the local
    models; and a title saying which."""
    from stocktracker.streams.commands.skill import generated_items

    if (synthetic_days is None) == (start is None):
        raise click.UsageError("give either --from/--to or --synthetic-days")
    if synthetic_days is not None:
        days = _generated_days(synthetic_days)
        kind = "shuffled " if shuffle_posts else ""
        return (generated_items(settings, days, seed, shuffle_posts),
                f"{synthetic_days} generated {kind}day(s) from {days[0]}, seed {seed}")
    if start is None or end is None:
        raise click.UsageError("--from needs --to")
    from stocktracker.connectors.replay.recorded import read_range
    from stocktracker.schemas.codec import make_codec

    k = settings.kafka
    try:
        items = list(read_range(k.bootstrap_servers, k.topic_prefix,
                                make_codec(settings.stream.schema_registry_url), _us(start), _us(end)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return items, f"recorded {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def _source_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed([
        click.option("--from", "start", type=TIME, default=None,
                     help="Recorded range start (New York time unless a zone is given)."),
        click.option("--to", "end", type=TIME, default=None, help="Recorded range end (exclusive)."),
        click.option("--synthetic-days", type=int, default=None,
                     help="Generated sessions, scored by the local models, instead."),
        click.option("--seed", type=int, default=7, show_default=True),
        click.option("--shuffle-posts", is_flag=True, help="Generated posts without information."),
        click.option("--config", type=click.Path(exists=True, path_type=Path), default=None,
                     help="A .env-style file of settings over the environment."),
        click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
                     help="Write the figures here as JSON."),
    ]):
        command = option(command)
    return command


@click.command()
@_source_options
@click.option("--horizons", default="60,300,900", show_default=True,
              help="Forward-return horizons, seconds.")
@click.option("--draws", default=500, show_default=True, help="Bootstrap resamples.")
def skill(start: datetime | None, end: datetime | None, synthetic_days: int | None, seed: int,
          shuffle_posts: bool, config: Path | None, json_path: Path | None, horizons: str,
          draws: int) -> None:
    """Does each model's score predict the underlying's next move? IC, hit rate and
    calibration per model and horizon (docs/operations.md, "Model skill")."""
    from rich.console import Console
    from rich.table import Table

    from stocktracker.domain.skill import HEADER
    from stocktracker.streams.commands.skill import skill_of

    settings = _settings(config)
    try:
        steps = tuple(int(h) for h in horizons.split(",") if h.strip())
    except ValueError as exc:
        raise click.UsageError(f"--horizons: {exc}") from exc
    items, title = _items(settings, start, end, synthetic_days, seed, shuffle_posts)
    report = skill_of(items, settings, steps, draws)
    table = Table(*HEADER, title=f"skill: {title}; calls: |score| >= {settings.signal.bullish_threshold}")
    for row in report.rows():
        table.add_row(*row)
    Console(width=max(Console().width, 110)).print(table)
    click.echo(f"{report.posts} scored posts; without a market at the horizon: "
               + ", ".join(f"{h}s {n}" for h, n in report.no_market.items()))
    if json_path is not None:
        json_path.write_text(json.dumps({"title": title, **report.as_dict()}, indent=2) + "\n")


@click.command("fit-weights")
@_source_options
@click.option("--train-days", default=3, show_default=True, help="Days per train window.")
@click.option("--anchored", is_flag=True, help="Grow the train window from the first day.")
@click.option("--horizon", default=300, show_default=True, help="Forward-return horizon fitted, s.")
@click.option("--step", default=0.1, show_default=True, help="Weight grid step.")
@click.option("--threshold", "fit_threshold", is_flag=True,
              help="Also choose the signal threshold (by the train days' backtest return).")
@click.option("--no-pnl", is_flag=True, help="Skip the backtests of the test days.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("fitted-weights.env"),
              show_default=True, help="The settings file written (use it with --config).")
def fit_weights(start: datetime | None, end: datetime | None, synthetic_days: int | None, seed: int,
                shuffle_posts: bool, config: Path | None, json_path: Path | None, train_days: int,
                anchored: bool, horizon: int, step: float, fit_threshold: bool, no_pnl: bool,
                out_path: Path) -> None:
    """Fit the ensemble's weights walk-forward on recorded days and compare them, out of
    sample, with the current settings. Writes a settings file; changes nothing running."""
    from stocktracker.streams.commands.skill import fit_weights as run_fit
    from stocktracker.streams.commands.skill import write_settings

    settings = _settings(config)
    items, title = _items(settings, start, end, synthetic_days, seed, shuffle_posts)
    try:
        fitted = run_fit(items, settings, train_days=train_days, horizon_s=horizon, step=step,
                         thresholds=(0.15, 0.25, 0.35, 0.45) if fit_threshold else (),
                         pnl=not no_pnl, anchored=anchored)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    w = fitted.walk
    for fold in w.folds:
        f = fold.as_dict()
        click.echo(f"train {f['train'][0]}..{f['train'][-1]} -> test {', '.join(f['test'])}: "
                   f"{fold.weights}  IC in {f['in_sample_ic']}, out {f['out_of_sample_ic']} "
                   f"(current {f['current_out_of_sample_ic']})")
    for row in fitted.pnl:
        click.echo(f"test {', '.join(row['test'])}: return fitted {row['fitted']['total_return'] or 0:+.2%} "
                   f"({row['fitted']['trades']} trades), current {row['current']['total_return'] or 0:+.2%} "
                   f"({row['current']['trades']} trades)")
    click.echo(f"out of sample over {w.posts} posts: IC fitted {w.out_ic}, current {w.current_out_ic}")
    write_settings(out_path, fitted, f"stocktracker fit-weights, {title}, horizon {horizon} s, "
                                     f"train {train_days} day(s)")
    click.echo(f"fitted on every day: {fitted.weights} -> {out_path} (not applied: pass it to --config)")
    if json_path is not None:
        json_path.write_text(json.dumps({"title": title, **fitted.as_dict()}, indent=2, default=str) + "\n")
