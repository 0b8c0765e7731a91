"""The Docker deployment, checked without a Docker engine (there is none on our machines).

docker-compose.yml against the Compose specification's JSON schema
(tests/resources/compose/), every ``stocktracker`` command in it parsed by the CLI itself,
the topology the operations docs promise, what the image may copy, and the Prometheus and
Grafana files against the metrics the workers and the dashboard export. Each check has a
twin that breaks a copy of the file and sees the check fail.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.cli_day import generated_day, replay_day

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests/resources/compose/compose-spec.json"
# main registers replay-day once cli.py adds it; the lookup does not wait for that
STOCKTRACKER = click.Group("stocktracker", commands={**main.commands, "replay-day": replay_day})
OUR_IMAGE = "stocktracker:local"

# What the workers (streams/ops.py) and the dashboard (web/prometheus.py) export.
HISTOGRAMS = {"stocktracker_stage_handle_seconds", "stocktracker_latency_seconds"}
METRICS = HISTOGRAMS | {
    "stocktracker_stage_records_total", "stocktracker_consumer_lag_messages",
    "stocktracker_worker_ready", "stocktracker_account_owner", "stocktracker_account_reconciled",
    "stocktracker_llm_calls_total", "stocktracker_llm_tokens_total",
    "stocktracker_llm_cost_dollars_total", "stocktracker_posts_scored_total",
    "stocktracker_records_seen_total", "stocktracker_deadletters_seen_total",
    "stocktracker_order_updates_total", "stocktracker_position_contracts",
    "stocktracker_open_positions", "stocktracker_pnl_dollars", "stocktracker_pipeline_clock_seconds",
    "stocktracker_alerts_firing",
}
SERIES = METRICS | {h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())


@pytest.fixture(scope="module")
def grafana_dashboard() -> dict[str, Any]:
    return json.loads((ROOT / "deploy/grafana/dashboards/stocktracker.json").read_text())


# --- helpers: what a reader of the compose file looks up ---

def schema_errors(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Where ``document`` breaks the Compose specification (the schema declares draft 7)."""
    assert "draft-07" in schema["$schema"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def parse_command(args: list[str], group: click.Group = STOCKTRACKER,
                  parent: click.Context | None = None) -> None:
    """Parse ``stocktracker <args>`` as the CLI would, running nothing; raises
    click.UsageError (NoSuchOption, BadParameter, ...) where the CLI would refuse it.

    Subcommands are looked up by name, so options of the ``stocktracker`` group itself
    (``--log-level``) are not accepted before them: compose sets STOCKTRACKER_LOG_LEVEL.
    """
    ctx = click.Context(group, info_name=group.name, parent=parent)
    if not args:
        raise click.UsageError("no command given", ctx)
    name, command, rest = group.resolve_command(ctx, args)
    assert name is not None and command is not None
    if isinstance(command, click.Group):
        parse_command(rest, command, ctx)
    else:
        command.make_context(name, list(rest), parent=ctx, resilient_parsing=False)


def command_problems(document: dict[str, Any]) -> list[str]:
    """Every service running ``stocktracker ...`` whose command line the CLI refuses."""
    problems = []
    for name, service in document["services"].items():
        args = argv(service)
        if args[:1] != ["stocktracker"]:
            continue
        try:
            parse_command(args[1:])
        except (click.ClickException, click.exceptions.Exit) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else "exits"
            problems.append(f"{name}: {shlex.join(args)}: {message}")
    return problems


def ours(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services run from our image."""
    return {n: s for n, s in document["services"].items()
            if "build" in s or s.get("image") == OUR_IMAGE}


def running(document: dict[str, Any], command: str) -> tuple[str, dict[str, Any]]:
    """The one service whose command is ``stocktracker <command>``."""
    found = [(n, s) for n, s in document["services"].items() if argv(s)[:2] == ["stocktracker", command]]
    assert len(found) == 1, f"services running stocktracker {command}: {[n for n, _ in found]}"
    return found[0]


def from_image(document: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    found = [(n, s) for n, s in document["services"].items() if s.get("image", "").startswith(prefix)]
    assert len(found) == 1, f"services from {prefix}: {[n for n, _ in found]}"
    return found[0]


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of every published port (short and long syntax)."""
    ports = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports[int(port["target"])] = int(port["published"])
        else:
            parts = str(port).split("/")[0].split(":")
            ports[int(parts[-1])] = int(parts[-2]) if len(parts) > 1 else 0
    return ports


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source (a named volume or a path) of the service's volumes."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = volume.get("source", "")
        else:
            source, target = str(volume).split(":")[:2]
            found[target] = source
    return found


def on_volume(path: str, service: dict[str, Any]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in mounts(service))


def listeners(spec: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` as {name: (host, port)}."""
    found = {}
    for item in spec.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        found[name] = (host, int(port))
    return found


def dockerignored(path: str, rules: list[str]) -> bool:
    """Whether the build context leaves ``path`` out: the last matching rule wins, ``!``
    re-includes, a matched directory takes its contents (Docker's rules, simplified: ``*``
    may cross ``/`` here, which only makes a pattern match more)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    verdict = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        candidates = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            verdict = not negate
    return verdict


def dockerignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def dockerfile_copies(text: str) -> list[str]:
    """The sources of every COPY/ADD of the build context (not --from another stage)."""
    sources = []
    for line in text.replace("\\\n", " ").splitlines():
        words = line.split()
        if words[:1] in (["COPY"], ["ADD"]) and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every PromQL expression of the dashboard's panels (rows' panels included)."""
    def walk(panels: list[dict[str, Any]]) -> Iterator[str]:
        for panel in panels:
            yield from (t["expr"] for t in panel.get("targets", []) if "expr" in t)
            yield from walk(panel.get("panels", []))
    return walk(dashboard["panels"])


def unknown_metrics(dashboard: dict[str, Any]) -> set[str]:
    names = {m for expr in expressions(dashboard) for m in re.findall(r"stocktracker_[a-z_]+", expr)}
    return names - SERIES


# --- 1. the Compose specification ---

def test_the_compose_file_follows_the_compose_specification(compose, schema):
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema_errors(compose, schema) == []


def test_the_schema_check_refuses_a_misspelt_key(compose, schema):
    broken = copy.deepcopy(compose)
    broken["services"]["worker"]["healthchek"] = broken["services"]["worker"].pop("healthcheck")
    broken["services"]["kafka"]["ports"] = "9092:9092"
    errors = schema_errors(broken, schema)
    assert any("healthchek" in e for e in errors)
    assert any(e.startswith("$.services.kafka.ports") for e in errors)


# --- 2. every stocktracker command is one the CLI takes ---

def test_every_stocktracker_command_parses(compose):
    assert command_problems(compose) == []


def test_every_service_of_our_image_runs_a_stocktracker_command(compose):
    services = ours(compose)
    assert {argv(s)[1] for s in services.values()} >= {"worker", "web", "ingest", "replay-day"}
    assert [n for n, s in services.items() if argv(s)[:1] != ["stocktracker"]] == []


@pytest.mark.parametrize(("service", "command", "refusal"), [
    ("worker", ["stocktracker", "worker", "--log-levle", "info"], "No such option"),
    ("worker", ["stocktracker", "wroker"], "No such command"),
    ("replay-day", ["stocktracker", "replay-day", "--speed", "fast"], "'fast' is not a valid float"),
    ("replay-day", ["stocktracker", "replay-day", "--day", "24/11/2026"], "24/11/2026"),
    ("dashboard", ["stocktracker", "web", "--port"], "requires an argument"),
])
def test_a_command_the_cli_would_refuse_is_found(compose, service, command, refusal):
    broken = copy.deepcopy(compose)
    broken["services"][service]["command"] = command
    problems = command_problems(broken)
    assert len(problems) == 1
    assert problems[0].startswith(f"{service}: ") and refusal in problems[0]


# --- 3. the topology ---

def test_kafka_answers_inside_the_network_and_on_the_host(compose):
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    inside = [f"{h}:{p}" for h, p in advertised.values() if h == "kafka"]
    outside = [(h, p) for h, p in advertised.values() if h in ("localhost", "127.0.0.1")]
    assert len(inside) == 1 and len(outside) == 1
    assert published(kafka).get(outside[0][1]) == outside[0][1], "the host's listener is published"
    assert set(listeners(env["KAFKA_LISTENERS"])) >= set(advertised) | {"CONTROLLER"}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    for name, service in ours(compose).items():
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == inside[0], name
    assert on_volume(env["KAFKA_LOG_DIRS"], kafka)
    assert "env_file" not in kafka, "the image reads every KAFKA_* variable as a broker property"


def test_workers_are_an_owner_and_standbys_each_with_its_own_state(compose):
    _, worker = running(compose, "worker")
    env = worker["environment"]
    assert worker["deploy"]["replicas"] >= 2
    assert env["STREAM_WEB_HOST"] == "0.0.0.0"
    assert on_volume(env["STREAM_DATA_DIR"], worker)
    entry = " ".join(worker["entrypoint"])
    assert "STREAM_DATA_DIR=" in entry and "HOSTNAME" in entry, "one RocksDB dir per container"
    assert f":{env['STREAM_WEB_PORT']}/live" in " ".join(worker["healthcheck"]["test"])
    assert env["TRADING_MODE"] == "paper" and "--live" not in argv(worker)
    assert "container_name" not in worker and not published(worker), "replicas cannot share these"


def test_the_dashboard_listens_for_the_host(compose):
    _, dashboard = running(compose, "web")
    args = argv(dashboard)
    assert option(args, "--host") == "0.0.0.0"
    assert int(option(args, "--port") or 0) in published(dashboard)
    assert "web_token" in dashboard["secrets"]
    assert "/run/secrets/web_token" in " ".join(dashboard["entrypoint"])


def test_ingest_and_the_made_up_day_wait_for_their_profiles(compose):
    assert running(compose, "ingest")[1].get("profiles"), "ingest needs keys: behind a profile"
    assert running(compose, "replay-day")[1].get("profiles"), "made-up data only when asked"
    assert from_image(compose, "prom/prometheus")[1].get("profiles") is None
    assert from_image(compose, "grafana/grafana")[1].get("profiles") is None


def test_every_long_running_service_has_a_health_check(compose):
    one_shot = {n for n, s in compose["services"].items() if s.get("restart") == "no"}
    assert one_shot == {running(compose, "replay-day")[0]}
    missing = [n for n, s in compose["services"].items()
               if n not in one_shot and not s.get("healthcheck", {}).get("test")]
    assert missing == []


def test_settings_come_from_the_env_file_at_run_time(compose):
    for name, service in ours(compose).items():
        assert {"path": ".env", "required": False} in service["env_file"], name
        assert service["build"]["context"] == "."


def test_the_build_context_leaves_secrets_out():
    rules = dockerignore_rules()
    for secret in (".env", ".env.local", ".env.production", "secrets/web_token", ".git/config"):
        assert dockerignored(secret, rules), secret
    assert not dockerignored(".env.example", rules)
    assert not dockerignored("streams/commands/cli.py", rules)


def test_the_dockerignore_check_sees_a_missing_rule():
    rules = [r for r in dockerignore_rules() if r not in (".env", "**/.env")]
    assert not dockerignored(".env", rules)
    assert dockerignored(".env.example", [".env*"]), "no re-include: the example is left out"


def test_the_image_copies_the_package_and_nothing_else():
    text = (ROOT / "Dockerfile").read_text()
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                   ["tool"]["setuptools"]["package-dir"].values())
    copied = dockerfile_copies(text)
    assert set(copied) == packages | {"pyproject.toml", "README.md"}
    assert re.search(r"^ARG WITH_TORCH=false$", text, re.MULTILINE), "torch is off by default"


def test_the_copy_check_sees_the_whole_context_copied():
    copied = dockerfile_copies("FROM python:3.11-slim\nCOPY --chown=app . /src\n")
    assert copied == ["."]


# --- 4. Prometheus and Grafana ---

def test_prometheus_scrapes_every_worker_and_the_dashboard(compose, prometheus):
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    worker_name, worker = running(compose, "worker")
    dns = [c for job in jobs.values() for c in job.get("dns_sd_configs", [])]
    assert any(c["names"] == [worker_name] and c["type"] == "A"
               and c["port"] == int(worker["environment"]["STREAM_WEB_PORT"]) == 6066 for c in dns)
    dashboard_name, dashboard = running(compose, "web")
    target = f"{dashboard_name}:{option(argv(dashboard), '--port')}"
    scrapes = [job for job in jobs.values()
               if any(target in c["targets"] for c in job.get("static_configs", []))]
    assert len(scrapes) == 1
    secret = scrapes[0]["authorization"]["credentials_file"]
    _, server = from_image(compose, "prom/prometheus")
    assert secret == "/run/secrets/web_token" and "web_token" in server["secrets"]
    assert mounts(server)["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"


def test_grafana_is_provisioned_from_the_repository(compose, grafana_dashboard):
    _, grafana = from_image(compose, "grafana/grafana")
    provisioning = ROOT / "deploy/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"][0]
    provider = yaml.safe_load((provisioning / "dashboards/stocktracker.yml").read_text())["providers"][0]
    prometheus_name, _ = from_image(compose, "prom/prometheus")
    assert datasource["url"] == f"http://{prometheus_name}:9090"
    assert mounts(grafana)[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    uids = {p["datasource"]["uid"] for p in grafana_dashboard["panels"] if "datasource" in p}
    assert uids == {datasource["uid"]}


def test_the_grafana_dashboard_asks_only_for_exported_metrics(grafana_dashboard):
    exprs = list(expressions(grafana_dashboard))
    assert len(exprs) >= 10
    assert unknown_metrics(grafana_dashboard) == set()
    used = {m for e in exprs for m in re.findall(r"stocktracker_[a-z_]+", e)}
    assert used >= {"stocktracker_latency_seconds_bucket", "stocktracker_consumer_lag_messages",
                    "stocktracker_order_updates_total", "stocktracker_pnl_dollars",
                    "stocktracker_llm_cost_dollars_total", "stocktracker_account_owner"}


def test_the_news_to_order_panel_shows_the_200_ms_budget(grafana_dashboard):
    panel = next(p for p in grafana_dashboard["panels"] if p["title"].startswith("News to order"))
    assert all('stage="post_to_order"' in t["expr"] for t in panel["targets"])
    assert {"histogram_quantile(0.5", "histogram_quantile(0.99"} <= {
        t["expr"].split(",")[0] for t in panel["targets"]}
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert 0.2 in [s["value"] for s in steps] and panel["fieldConfig"]["defaults"]["unit"] == "s"


def test_a_misspelt_metric_is_found(grafana_dashboard):
    broken = copy.deepcopy(grafana_dashboard)
    target = next(p for p in broken["panels"] if p.get("targets"))["targets"][0]
    target["expr"] = target["expr"].replace("stocktracker_latency_seconds_bucket",
                                            "stocktracker_latency_second_bucket")
    assert unknown_metrics(broken) == {"stocktracker_latency_second_bucket"}


# --- replay-day: the deployment's demo feed ---

def test_replay_day_offers_seed_day_and_speed():
    result = CliRunner().invoke(replay_day, ["--help"])
    assert result.exit_code == 0
    for text in ("--seed", "--day", "--speed", "default: 7", "default: 60"):
        assert text in result.output


def test_replay_day_refuses_a_negative_speed_before_touching_kafka():
    result = CliRunner().invoke(replay_day, ["--speed", "-1"])
    assert result.exit_code == 2
    assert "--speed" in result.output and "-1" in result.output


def test_replay_day_refuses_a_day_without_a_session(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    result = CliRunner().invoke(replay_day, ["--day", "2026-12-25"])
    assert result.exit_code == 2
    assert "not a trading session" in result.output


def test_the_generated_day_has_quotes_as_well_as_posts(monkeypatch, tmp_path):
    from stocktracker.connectors.simulated.market import day_items
    from stocktracker.streams.core.settings import load_settings

    monkeypatch.chdir(tmp_path)
    half_day = date(2026, 11, 27)  # the day after Thanksgiving: the exchange closes at 13:00
    items = day_items(generated_day(load_settings(), 7, half_day))
    assert {i.topic for i in items} == {"posts", "quotes"}
    assert items[0].topic == "quotes", "a post always finds the chain of its moment"
