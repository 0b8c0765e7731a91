"""The ensemble inside the worker: hosted LLMs (local servers) answer after the deadline, and
their answers arrive downstream as revisions that replace, not add to, the post's score."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stocktracker.connectors.simulated.llm_servers import FakeLLMServer, serve_in_thread
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import at, post
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    with serve_in_thread(FakeLLMServer(latency_s=0.4)) as server:
        yield server


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path,
        llm_server: FakeLLMServer) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({
        "SENTIMENT_FINBERT": "off", "SENTIMENT_DEADLINE_MS": "100",
        "SENTIMENT_GROQ_API_KEY": "gsk-integration", "SENTIMENT_GROQ_BASE_URL": llm_server.url,
        "SENTIMENT_ANTHROPIC_API_KEY": "sk-ant-integration",
        "SENTIMENT_ANTHROPIC_BASE_URL": llm_server.url, "SENTIMENT_LLM_MIN_RELEVANCE": "0"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def test_late_llm_answers_become_revisions(run: Run, llm_server: FakeLLMServer) -> None:
    run.start_worker()
    text = "$SPY blowout jobs report, loading 600c calls 🚀"
    run.send("posts", "Post", "p1", post("p1", "alice", text, at(15, 0)))
    scores = eventually(lambda: len(run.records("scores")) >= 3 and run.records("scores"),
                        timeout=60)
    by_rev = {s["revision"]: s for s in scores if s["post_id"] == "p1"}
    assert sorted(by_rev) == [0, 1, 2]
    assert [m["model"] for m in by_rev[0]["models"]] == ["lexicon"]  # LLMs missed 100 ms
    assert {m["model"] for m in by_rev[2]["models"]} == {"lexicon", "groq", "claude"}
    assert by_rev[2]["confidence"] > by_rev[0]["confidence"]  # both LLMs confirmed
    assert all(s["label"] == "bullish" for s in by_rev.values())
    assert llm_server.count("chat/completions") == 1 and llm_server.count("/v1/messages") == 1
    body = next(r for r in llm_server.requests if "chat" in r["_path"])
    assert "<post>\n" + text + "\n</post>" in body["messages"][1]["content"]
    sentiment = eventually(lambda: len(run.records("sentiment")) >= 3 and run.records("sentiment"))
    assert all(s["posts"] == 1 for s in sentiment), "a revision was counted as another post"
    assert sentiment[-1]["confidence"] == pytest.approx(by_rev[2]["confidence"], abs=1e-3)
    metrics = eventually(lambda: [m for m in run.records("metrics")
                                  if m["name"] == "llm_cost_usd"], timeout=30)
    assert {m["labels"]["model"] for m in metrics} == {"groq", "claude"}
    assert all(m["value"] > 0 for m in metrics[-2:])
    assert "gsk-integration" not in run.log_tail() and "sk-ant-integration" not in run.log_tail()
