"""Model skill and the weight fit on recorded topics, through the CLI on the real broker.

Two generated sessions are scored by the lexicon (posts lead the price there), and every
score gets one more answer from a model that answers at random, as a hosted LLM with no
skill would; quotes and scores are then recorded into the live topics."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.skill import generated_items
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import Settings

pytestmark = pytest.mark.integration
DAYS = [date(2026, 11, 23), date(2026, 11, 24)]


def record_scored_days(bootstrap: str, prefix: str) -> int:
    """Record the days' quotes and scores (with the random model's answers); scores sent."""
    rng = random.Random(3)
    producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
    sent = 0
    for item in generated_items(Settings(), DAYS, seed=11):
        record = dict(item.record)
        if item.topic == "scores":
            record["models"] = [*record["models"], {
                "model": "groq", "score": rng.uniform(-1, 1), "confidence": rng.uniform(0.2, 1),
                "label": "neutral", "latency_us": 1000, "reasoning": ""}]
            sent += 1
        elif item.topic != "quotes":
            continue
        producer.send(item.topic, item.record_name, item.key, record)
        producer.poll(0)
    assert producer.flush(60) == 0
    return sent


def test_skill_and_fit_weights_on_a_recorded_range(kafka_bootstrap: str, tmp_path: Path) -> None:
    live = f"skill{uuid.uuid4().hex[:6]}."
    ensure_topics(kafka_bootstrap, live, 2, 1)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": live,
           "KAFKA_PARTITIONS": "2", "SENTIMENT_FINBERT": "off"}
    try:
        scores = record_scored_days(kafka_bootstrap, live)
        assert scores > 3000
        span = ["--from", "2026-11-23 09:30", "--to", "2026-11-24 16:00"]
        outcome = CliRunner().invoke(main, ["skill", *span, "--draws", "200", "--json",
                                            str(tmp_path / "skill.json")], env=env)
        assert outcome.exit_code == 0, outcome.output
        assert "lexicon" in outcome.output and "groq" in outcome.output
        skill = json.loads((tmp_path / "skill.json").read_text())
        assert skill["posts"] == scores
        lexicon, noise = skill["models"]["lexicon"]["300"], skill["models"]["groq"]["300"]
        assert lexicon["ic"] > 0.05 and lexicon["ic_interval"][0] > 0, lexicon
        assert noise["ic_interval"][0] < 0 < noise["ic_interval"][1], noise

        out = tmp_path / "fitted.env"
        outcome = CliRunner().invoke(main, ["fit-weights", *span, "--train-days", "1", "--out", str(out),
                                            "--json", str(tmp_path / "fit.json")], env=env)
        assert outcome.exit_code == 0, outcome.output
        fit = json.loads((tmp_path / "fit.json").read_text())
        assert fit["fitted_models"] == ["finbert", "groq"]  # the lexicon stands in for FinBERT
        [fold] = fit["folds"]
        assert fold["train"] == ["2026-11-23"] and fold["test"] == ["2026-11-24"]
        assert fold["weights"]["finbert"] >= 0.8, fold
        assert fit["out_of_sample_ic"] > fit["current_out_of_sample_ic"]
        [pnl] = fit["pnl"]
        assert pnl["fitted"]["trades"] > 0 and pnl["current"]["trades"] >= 0
        text = out.read_text()
        assert f"SENTIMENT_WEIGHT_FINBERT={fit['weights']['finbert']:g}" in text
        assert "SENTIMENT_WEIGHT_CLAUDE=0.35  # not fitted" in text
        # the file is a settings file the backtest takes
        outcome = CliRunner().invoke(main, ["skill", *span, "--config", str(out), "--draws", "10"], env=env)
        assert outcome.exit_code == 0, outcome.output
    finally:
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, live))
