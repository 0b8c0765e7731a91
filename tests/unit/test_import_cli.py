"""``stocktracker import posts`` without a broker: argument errors, unreadable files, and
the writer's accounting against a hand-written producer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stocktracker.connectors.history.posts import ImportReport, UnreadableFile, import_posts
from stocktracker.connectors.history.produce import produce_imported
from stocktracker.connectors.ingest import processor_from_settings
from stocktracker.streams.commands.cli import main
from stocktracker.streams.core.settings import IngestSettings

HISTORY = Path(__file__).resolve().parents[1] / "resources" / "history"
X_FILE = HISTORY / "x_search.jsonl"
CSV_FILE = HISTORY / "posts.csv"
NO_BROKER = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # nothing may reach it


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["import", "posts", *args], env=NO_BROKER)


def test_an_unknown_format_is_refused_with_the_choices() -> None:
    result = invoke("--format", "json", str(CSV_FILE))
    assert result.exit_code == 2
    assert "'json' is not one of 'x', 'reddit', 'csv'" in result.output


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "gone.jsonl"
    result = invoke(str(CSV_FILE), str(missing))
    assert result.exit_code == 2
    assert f"'{missing}' does not exist" in result.output


def test_no_file_at_all_is_a_usage_error() -> None:
    result = invoke()
    assert result.exit_code == 2 and "Missing argument 'FILES...'" in result.output


def test_a_file_of_no_known_format_fails_before_kafka_is_asked(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("buy SPY calls\n")
    result = invoke(str(CSV_FILE), str(odd))
    assert result.exit_code == 1
    assert f"cannot tell the format of {odd}; name one of x, reddit, csv" in result.output


def test_an_empty_ticker_list_is_refused() -> None:
    result = invoke("--tickers", " , ", str(CSV_FILE))
    assert result.exit_code == 2 and "name at least one ticker" in result.output


# ---- the writer, against a producer that acknowledges what it is told to -------------------

class ListProducer:
    """Keeps what is sent; acknowledges all but ``lose`` records on flush."""

    def __init__(self, lose: int = 0) -> None:
        self.sent: list[tuple[str, str, Mapping[str, Any]]] = []
        self.pending: list[Callable[[], None]] = []
        self.lose = lose
        self.failed = 0

    def send(self, topic: str, record_name: str, key: str, record: Mapping[str, Any],
             on_delivered: Callable[[], None] | None = None) -> None:
        self.sent.append((topic, key, record))
        if on_delivered is not None:
            self.pending.append(on_delivered)

    def flush(self, timeout: float = 30.0) -> int:
        acked, self.pending = self.pending[self.lose:], self.pending[:self.lose]
        for callback in acked:
            callback()
        return len(self.pending)


def items(*paths: Path) -> tuple[Any, ImportReport]:
    settings = IngestSettings(_env_file=None, min_relevance=0.25)  # type: ignore[call-arg]
    report = ImportReport()
    return import_posts(paths, processor_from_settings(settings, ("SPY", "QQQ")), report), report


def test_posts_and_dead_letters_are_sent_stamped_and_counted() -> None:
    producer = ListProducer()
    found, _ = items(X_FILE)
    delivery = produce_imported(found, producer, clock=lambda: 42)  # type: ignore[arg-type]
    assert delivery.complete  # X search pages come newest first: 5 posts are out of order
    assert delivery.as_dict() == {"sent": {"posts": 6, "deadletter": 6},
                                  "delivered": {"posts": 6, "deadletter": 6},
                                  "unsent": 0, "failed": 0, "out_of_order": 5}
    posts = [r for topic, _, r in producer.sent if topic == "posts"]
    assert all(p["trace"]["ingest_in"] == p["trace"]["ingest_out"] == 42 for p in posts)
    assert all(p["trace"]["post_age_us"] == 0 for p in posts)
    dead = [(key, r) for topic, key, r in producer.sent if topic == "deadletter"]
    assert {key for key, _ in dead} == {"x"}
    assert dead[0][1]["stage"] == "import" and dead[0][1]["topic"] == "source:x"
    assert dead[0][1]["reason"] == "x_search.jsonl: line 2: missing field(s): created_at"


def test_an_unacknowledged_record_leaves_the_import_incomplete() -> None:
    found, _ = items(CSV_FILE)
    delivery = produce_imported(found, ListProducer(lose=1))  # type: ignore[arg-type]
    assert delivery.unsent == 1 and not delivery.complete


def test_newest_first_posts_are_counted_out_of_order(tmp_path: Path) -> None:
    newest_first = tmp_path / "desc.csv"
    newest_first.write_text("text,created_at,author,score\n"
                            "$SPY calls printing today,2026-03-10T15:00:00Z,a,40\n"
                            "$QQQ puts are the play,2026-03-10T14:59:00Z,b,40\n"
                            "$SPY breaking out of the range,2026-03-10T14:58:00Z,c,40\n")
    found, report = items(newest_first)
    delivery = produce_imported(found, ListProducer())  # type: ignore[arg-type]
    assert report.files[0].kept == 3 and delivery.out_of_order == 2


def test_a_file_that_fails_while_read_ends_the_import_naming_it(tmp_path: Path) -> None:
    doomed = tmp_path / "later.csv"
    doomed.write_bytes(CSV_FILE.read_bytes())
    found, report = items(CSV_FILE, doomed)
    doomed.unlink()  # after its format was told, before it is read
    producer = ListProducer()
    delivery = produce_imported(found, producer)  # type: ignore[arg-type]
    assert delivery.error is not None and delivery.error.startswith(f"cannot read {doomed}:")
    assert delivery.delivered["posts"] == report.files[0].kept == 3  # the first file still went


def test_reading_a_vanished_file_raises_unreadable_file_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "vanishing.csv"
    path.write_bytes(CSV_FILE.read_bytes())
    found, _ = items(path)
    path.unlink()
    with pytest.raises(UnreadableFile, match=f"cannot read {path}"):
        list(found)
