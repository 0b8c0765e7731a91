"""Importing past posts: X search results, Reddit dumps (plain and .zst) and CSV files go
through the live ingest's parsing and processing, on event time.

The expected counts are read off the fixtures under ``tests/resources/history/`` by hand
(minimum relevance 0.25, tickers SPY and QQQ; see each test's comment)."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.history.formats import detect_format, read_posts
from stocktracker.connectors.history.posts import DROP_REASONS, ImportReport, import_posts
from stocktracker.connectors.ingest import processor_from_settings
from stocktracker.domain.ingest import Processor
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.core.settings import IngestSettings

HISTORY = Path(__file__).resolve().parents[1] / "resources" / "history"
X_FILE = HISTORY / "x_search.jsonl"
SUBMISSIONS = HISTORY / "reddit_submissions.ndjson"
COMMENTS = HISTORY / "reddit_comments.ndjson"
CSV_FILE = HISTORY / "posts.csv"
T0_US = 1_773_153_000_000_000  # 2026-03-10T14:30:00Z


def at(hour: int, minute: int, second: float = 0.0) -> int:
    """µs since the epoch of a time on 2026-03-10 (UTC)."""
    whole = datetime(2026, 3, 10, hour, minute, int(second), tzinfo=UTC)
    return int(whole.timestamp()) * 1_000_000 + round((second % 1) * 1_000_000)


def processor() -> Processor:
    settings = IngestSettings(_env_file=None, min_relevance=0.25)  # type: ignore[call-arg]
    return processor_from_settings(settings, ("SPY", "QQQ"))


def run(*paths: Path, fmt: str | None = None) -> tuple[list[dict[str, Any]], list[Malformed], ImportReport]:
    report = ImportReport()
    records: list[dict[str, Any]] = []
    malformed: list[Malformed] = []
    for item in import_posts(paths, processor(), report, fmt=fmt):
        (malformed if isinstance(item, Malformed) else records).append(item)  # type: ignore[arg-type]
    return records, malformed, report


def counts(report: ImportReport, index: int = -1) -> dict[str, int]:
    """One file's counts (the total by default), every reason present."""
    one = report.total() if index < 0 else report.files[index]
    return {"read": one.read, "kept": one.kept, "malformed": one.malformed,
            **{r: one.dropped[r] for r in DROP_REASONS}}


def zst(source: Path, target: Path, window_log: int = 28) -> Path:
    """``source`` compressed as a stream with a long window, like the Reddit dumps."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log,
                                                            enable_ldm=True)
    with target.open("wb") as out, zstandard.ZstdCompressor(
            compression_params=params).stream_writer(out) as writer:
        writer.write(source.read_bytes())
    return target


def posts_of(items: list[RawPost | Malformed]) -> list[RawPost]:
    return [i for i in items if isinstance(i, RawPost)]


# ---- X API v2 ---------------------------------------------------------------------------

def test_x_pages_and_single_tweets_become_posts_with_authors_from_includes() -> None:
    posts = posts_of(list(read_posts(X_FILE)))
    by_id = {p.id: p for p in posts}
    assert len(posts) == 15  # 21 tweets read, 6 malformed
    first = by_id["x:1900000000000000101"]
    assert (first.author, first.followers, first.verified, first.likes) == ("tradergal", 25_000, True, 40)
    assert first.tickers == ("SPY",)
    assert first.url == "https://x.com/tradergal/status/1900000000000000101"
    assert first.created_us == at(14, 40)
    # a stream-shaped single tweet and a bare tweet (no includes: the author id stands in)
    assert by_id["x:1900000000000000111"].author == "tradergal"
    bare = by_id["x:1900000000000000113"]
    assert (bare.author, bare.followers, bare.likes) == ("2244994945", 0, 500)
    assert all(p.received_us == p.created_us for p in posts)  # no live receipt


def test_x_malformed_lines_and_tweets_carry_their_bytes_and_a_reason() -> None:
    malformed = [i for i in read_posts(X_FILE) if isinstance(i, Malformed)]
    assert [m.reason.split(":")[0] for m in malformed] == [
        "line 2", "line 5", "line 8", "line 9", "line 10", "line 11"]
    reasons = [m.reason.split(": ", 1)[1] for m in malformed]
    assert reasons[0] == "missing field(s): created_at"
    assert reasons[1].startswith("not JSON")
    assert reasons[2] == "bad field: Invalid isoformat string: 'yesterday'"
    assert reasons[3] == "bad field: public_metrics.like_count is not an integer"  # NaN
    assert reasons[4] == "not a JSON object"
    assert reasons[5].startswith("errors without data")
    # a page's bad tweet carries that tweet; a bad line carries the line
    assert json.loads(malformed[0].payload)["id"] == "1900000000000000109"
    assert malformed[1].payload == X_FILE.read_bytes().splitlines()[4]
    assert {m.source for m in malformed} == {"x"}
    # a malformed item is stamped with the time of the last post read before it
    assert malformed[0].received_us == at(14, 34)


# ---- Reddit dumps -------------------------------------------------------------------------

def test_reddit_submissions_become_posts_whatever_the_type_of_created_utc() -> None:
    posts = {p.id: p for p in posts_of(list(read_posts(SUBMISSIONS)))}
    assert posts["reddit:t3_1abc01"].created_us == T0_US  # an int
    assert posts["reddit:t3_1abc02"].created_us == T0_US + 60_500_000  # a float
    assert posts["reddit:t3_1abc03"].created_us == T0_US + 120_000_000  # a numeric string
    loaded = posts["reddit:t3_1abc02"]
    assert loaded.text == "QQQ puts loaded\n\nTech looks weak into CPI, $QQQ 480p"
    assert (loaded.author, loaded.likes, loaded.replies) == ("bearish_bob", 20, 3)
    assert loaded.url == "https://www.reddit.com/r/wallstreetbets/comments/1abc02/post/"
    assert loaded.extra == {"subreddit": "wallstreetbets", "kind": "submission", "flair": "YOLO",
                            "parent_id": ""}
    assert posts["reddit:t3_1abc15"].author == "[deleted]"


def test_reddit_bad_numbers_and_missing_fields_are_malformed() -> None:
    reasons = [m.reason for m in read_posts(SUBMISSIONS) if isinstance(m, Malformed)]
    assert reasons[0] == "line 8: bad field: score is not an integer"  # NaN
    assert reasons[1] == "line 9: bad field: created_utc 'yesterday' is not a number"
    assert reasons[2] == "line 10: bad field: created_utc is not finite"  # Infinity
    assert reasons[3].startswith("line 11: not JSON")
    assert reasons[4] == "line 12: neither a submission (title) nor a comment (body)"
    assert reasons[5] == "line 16: missing field(s): id"
    assert len(reasons) == 6


def test_reddit_comments_keep_their_thread(tmp_path: Path) -> None:
    posts = {p.id: p for p in posts_of(list(read_posts(COMMENTS)))}
    assert posts["reddit:t1_kc0008"].created_us == T0_US + 450_250_000  # "1773153450.25"
    assert posts["reddit:t1_kc0001"].extra["parent_id"] == "t3_1abc01"
    assert posts["reddit:t1_kc0011"].extra["parent_id"] == "t3_1abc03"  # link_id stands in
    assert posts["reddit:t1_kc0011"].extra["kind"] == "comment"
    odd = tmp_path / "odd.ndjson"
    odd.write_bytes(b'{"id": "z1", "created_utc": 1773153000, "body": "SPY \xff up"}\n'
                    b'{"id": "z2", "created_utc": "1e400", "body": "SPY up"}\n')
    [not_utf8, too_big] = list(read_posts(odd, "reddit"))
    assert isinstance(not_utf8, Malformed) and not_utf8.reason.startswith("line 1: not JSON: 'utf-8'")
    assert not_utf8.payload == odd.read_bytes().splitlines()[0]  # the file's own bytes
    assert isinstance(too_big, Malformed) and too_big.reason == "line 2: bad field: created_utc is not finite"


def test_a_zst_dump_reads_like_the_plain_file(tmp_path: Path) -> None:
    packed = zst(COMMENTS, tmp_path / "reddit_comments.ndjson.zst")
    with pytest.raises(zstandard.ZstdError):  # the dump's window is past zstd's default limit
        zstandard.ZstdDecompressor().stream_reader(packed.open("rb")).read(1)
    assert detect_format(packed) == "reddit"
    assert list(read_posts(packed)) == list(read_posts(COMMENTS))
    records, _, report = run(packed)
    assert [r["id"] for r in records] == [r["id"] for r in run(COMMENTS)[0]]
    assert counts(report)["kept"] == 4


def big_dump(path: Path, lines: int) -> Path:
    """A comments dump of random (hardly compressible) text, several read chunks long."""
    with path.open("w") as out:
        for n in range(lines):
            out.write(json.dumps({"id": f"b{n}", "created_utc": 1773153000 + n, "score": 5,
                                  "body": f"SPY {os.urandom(48).hex()}"}) + "\n")
    return path


def test_a_zst_dump_is_read_as_a_stream(tmp_path: Path) -> None:
    plain = big_dump(tmp_path / "big.ndjson", 40_000)
    packed = zst(plain, tmp_path / "big.ndjson.zst")
    assert plain.stat().st_size > 4_000_000 and packed.stat().st_size > 1_000_000
    items = read_posts(packed)
    assert inspect.isgenerator(items)
    tracemalloc.start()
    try:
        first = next(items)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(first, RawPost) and first.id == "reddit:t1_b0"
    assert peak < 1_000_000  # a few read chunks, not the 4 MB file
    assert sum(1 for _ in items) == 39_999


def test_a_corrupt_zst_ends_its_file_with_one_malformed_item(tmp_path: Path) -> None:
    packed = bytearray(zst(big_dump(tmp_path / "big.ndjson", 20_000), tmp_path / "big.zst")
                       .read_bytes())
    middle = len(packed) // 2
    packed[middle:middle + 64] = bytes(64)
    broken = tmp_path / "broken.ndjson.zst"
    broken.write_bytes(bytes(packed))
    items = list(read_posts(broken, "reddit"))
    assert 1_000 < len(items) < 20_000  # what came before the damage was read
    assert all(isinstance(i, RawPost) for i in items[:-1])
    assert isinstance(items[-1], Malformed)
    assert items[-1].reason.startswith("broken.ndjson.zst: unreadable after line")


# ---- CSV ----------------------------------------------------------------------------------

def test_csv_rows_become_posts_with_stable_ids() -> None:
    posts = posts_of(list(read_posts(CSV_FILE)))
    assert [p.author for p in posts] == [
        "csv_trader", "trader2", "bob", "bob", "carol", "pierre", "trader3", "trader4", "ivan", "judy"]
    assert posts[0].created_us == at(14, 41)  # ISO 8601
    assert posts[1].created_us == T0_US + 900_000_000  # epoch seconds
    assert posts[2].created_us == at(15, 0)  # ISO 8601 with +00:00
    assert (posts[0].likes, posts[9].likes) == (25, 0)  # a blank score is 0
    assert posts[8].text == "SPY calls\nall day, no stopping this"  # a quoted line break
    assert {p.source for p in posts} == {"csv"}
    assert len({p.id for p in posts}) == len(posts)
    assert [p.id for p in posts_of(list(read_posts(CSV_FILE)))] == [p.id for p in posts]


def test_csv_bad_cells_are_malformed_with_the_row() -> None:
    malformed = [m for m in read_posts(CSV_FILE) if isinstance(m, Malformed)]
    assert [m.reason for m in malformed] == [
        "line 10: bad field: score 'nan' is not an integer",
        "line 11: bad field: created_at 'yesterday' is neither ISO 8601 nor epoch seconds",
        "line 12: bad field: created_at '2026-03-10T15:07:00' has no timezone",
        "line 13: bad field: created_at 1773153900000.0 is not seconds since 1970 before year 10000",
        "line 14: 1 fields where the header has 4",
        "line 16: bad field: score '12.5' is not an integer",
        "line 17: author is empty",
        "line 21: bad field: score 'inf' is not an integer",
    ]
    assert malformed[0].payload == b"SPY short squeeze incoming,2026-03-10T15:06:00Z,dave,nan"


def test_a_csv_without_the_needed_columns_is_one_malformed_item(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("body,when\nSPY up,2026-03-10T15:00:00Z\n")
    [only] = list(read_posts(path))
    assert isinstance(only, Malformed)
    assert only.reason == "line 1: header lacks text, created_at, author"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert list(read_posts(empty)) == []


# ---- processing: counts per reason ---------------------------------------------------------

# Per file, by hand (see the fixtures):
# x: kept 101 102 110 111 113 118; language 103 (es) 116 (ja) 117 (de); no_ticker 104 119;
#    low_relevance 105 (3 followers, no engagement); duplicate 106 (of 101); near_duplicate 107
#    (101 with emoji and a link); empty 108 (a link only); malformed: tweet 109 and lines 5 8 9 10 11.
# submissions: kept 01 02 03 15; duplicate 04 (of 01); no_ticker 05; language 06; low_relevance 07
#    (score 1, no comments); empty 13 (an image link); near_duplicate 14 (of 02); malformed 08-12 16.
# comments: kept 1 2 8 11; no_ticker 3 6 ("[deleted]"); language 4; duplicate 5 (of 1); empty 9;
#    low_relevance 12 (score 0); malformed 7 (NaN score) 10 (negative time).
# csv: kept rows 2 3 19 (lines); low_relevance 4 20; empty 5; no_ticker 6; language 7 (fr);
#    near_duplicate 8 and duplicate 9 (of line 3); malformed lines 10-14 16 17 21.
EXPECTED = {
    X_FILE: dict(read=21, kept=6, malformed=6, empty=1, language=3, no_ticker=2, low_relevance=1,
                 duplicate=1, near_duplicate=1),
    SUBMISSIONS: dict(read=16, kept=4, malformed=6, empty=1, language=1, no_ticker=1,
                      low_relevance=1, duplicate=1, near_duplicate=1),
    COMMENTS: dict(read=12, kept=4, malformed=2, empty=1, language=1, no_ticker=2, low_relevance=1,
                   duplicate=1, near_duplicate=0),
    CSV_FILE: dict(read=18, kept=3, malformed=8, empty=1, language=1, no_ticker=1, low_relevance=2,
                   duplicate=1, near_duplicate=1),
}


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name)
def test_each_file_is_counted_per_reason(path: Path) -> None:
    records, malformed, report = run(path)
    assert counts(report) == EXPECTED[path]
    assert (len(records), len(malformed)) == (EXPECTED[path]["kept"], EXPECTED[path]["malformed"])
    one = report.files[0]
    assert one.read == one.kept + one.malformed + sum(one.dropped.values())


def test_one_import_of_every_file_detects_formats_and_finds_repeats_across_files() -> None:
    files = [X_FILE, SUBMISSIONS, COMMENTS, CSV_FILE]
    records, malformed, report = run(*files)
    assert [(f.path, f.format) for f in report.files] == [
        (str(X_FILE), "x"), (str(SUBMISSIONS), "reddit"), (str(COMMENTS), "reddit"), (str(CSV_FILE), "csv")]
    # the CSV's first row repeats tweet 101 a minute later: a duplicate in one import
    assert counts(report, 3) == {**EXPECTED[CSV_FILE], "kept": 2, "duplicate": 2}
    for n, path in enumerate(files[:3]):
        assert counts(report, n) == EXPECTED[path]
    assert counts(report)["read"] == 21 + 16 + 12 + 18
    assert len(records) == 6 + 4 + 4 + 2 and len(malformed) == 6 + 6 + 2 + 8


def test_kept_records_are_avro_posts_on_event_time() -> None:
    records, _, _ = run(X_FILE, SUBMISSIONS, COMMENTS, CSV_FILE)
    by_id = {r["id"]: r for r in records}
    assert by_id["x:1900000000000000101"]["event_time"] == at(14, 40)
    assert by_id["reddit:t3_1abc02"]["event_time"] == at(14, 31, 0.5)
    assert by_id["reddit:t1_kc0008"]["event_time"] == at(14, 37, 30.25)
    ivan = next(r for r in records if r["author"] == "ivan")
    assert ivan["event_time"] == at(15, 10)
    assert ivan["text"] == "SPY calls all day, no stopping this"  # cleaned as live ingest does
    for record in records:
        at_us = record["event_time"]
        assert record["trace"] == {"ingest_in": at_us, "ingest_out": at_us, "post_age_us": 0}
    codec = SingleObjectCodec()
    for record in records:
        assert codec.decode("Post", codec.encode("Post", record))["id"] == record["id"]


def test_the_dedup_window_runs_on_the_posts_own_time(tmp_path: Path) -> None:
    path = tmp_path / "repeats.csv"
    path.write_text("text,created_at,author,score\n"
                    "SPY calls are cheap today,2026-03-10T14:00:00Z,a,50\n"
                    "SPY calls are cheap today,2026-03-10T14:30:00Z,b,50\n"   # 30 min later
                    "SPY calls are cheap today,2026-03-10T16:00:00Z,c,50\n")  # 2 h after the first
    records, _, report = run(path)
    assert [r["author"] for r in records] == ["a", "c"]  # the one-hour window, in event time
    assert counts(report)["duplicate"] == 1


# ---- formats and the report ----------------------------------------------------------------

def test_formats_are_detected_or_named(tmp_path: Path) -> None:
    assert [detect_format(p) for p in (X_FILE, SUBMISSIONS, COMMENTS, CSV_FILE)] == [
        "x", "reddit", "reddit", "csv"]
    renamed = tmp_path / "posts.txt"
    shutil.copy(CSV_FILE, renamed)
    assert detect_format(renamed) == "csv"  # from its header
    unknown = tmp_path / "notes.jsonl"
    unknown.write_text('{"hello": "world"}\n')
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format(unknown)
    with pytest.raises(ValueError, match="cannot tell the format"):
        import_posts([X_FILE, unknown], processor(), ImportReport())  # before reading anything
    assert counts(run(unknown, fmt="reddit")[2])["malformed"] == 1
    with pytest.raises(ValueError, match="unknown format"):
        import_posts([X_FILE], processor(), ImportReport(), fmt="json")


def test_the_report_table_lists_every_file_and_reason() -> None:
    _, _, report = run(X_FILE, CSV_FILE)
    lines = report.table().splitlines()
    assert lines[0].split() == ["file", "format", "read", "kept", "malformed", *DROP_REASONS]
    assert len(DROP_REASONS) == 6
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows[str(X_FILE)] == ["x", "21", "6", "6", "1", "3", "2", "1", "1", "1"]
    assert rows[str(CSV_FILE)] == ["csv", "18", "2", "8", "1", "1", "1", "2", "2", "1"]
    assert rows["total"] == ["39", "8", "14", "2", "4", "3", "3", "3", "2"]


def test_a_file_is_read_lazily(tmp_path: Path) -> None:
    """A line appended after the first item was read is still read: nothing was loaded ahead."""
    path = tmp_path / "growing.ndjson"
    path.write_text(COMMENTS.read_text().splitlines()[0] + "\n")
    items = read_posts(path, "reddit")
    first = next(items)
    with path.open("a") as out:
        out.write(COMMENTS.read_text().splitlines()[1] + "\n")
    rest = list(items)
    assert isinstance(first, RawPost) and [r.id for r in rest if isinstance(r, RawPost)] == [
        "reddit:t1_kc0002"]
