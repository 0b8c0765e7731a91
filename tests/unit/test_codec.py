"""Avro codec: single-object encoding, schema evolution, bad bytes, the registry format."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stocktracker.agents.book import position_record
from stocktracker.domain.book import Position
from stocktracker.schemas.codec import (
    SCHEMA_DIR,
    DecodeError,
    RegistryCodec,
    SchemaSet,
    SingleObjectCodec,
    rabin_fingerprint,
)
from stocktracker.streams.core.topics import RECORDS
from tests.older_schemas import codec_before

POST = {"id": "p1", "source": "x", "author": "a", "text": "$SPY 🚀", "event_time": 1,
        "trace": {"ingest_in": 5}}


def test_fingerprint_matches_the_avro_spec_vector() -> None:
    # CRC-64-AVRO of the canonical form "int" (Avro's own test vectors)
    assert rabin_fingerprint(b'"int"') == 0x7275D51A3F395C8F


def test_every_schema_round_trips_with_event_time_and_trace() -> None:
    schemas = SchemaSet()
    assert {s["name"].rsplit(".", 1)[-1] for s in schemas.current.values()} \
        == set(RECORDS.values())
    for name, schema in schemas.current.items():
        fields = {f["name"] for f in schema["fields"]}
        assert {"event_time", "trace"} <= fields, name


def test_single_object_encoding_round_trip_and_header() -> None:
    codec = SingleObjectCodec()
    data = codec.encode("post", POST)
    assert data[:2] == b"\xc3\x01"
    decoded = codec.decode("post", data)
    assert decoded["text"] == "$SPY 🚀" and decoded["tickers"] == [] and decoded["lang"] is None


@pytest.mark.parametrize("data", [b"", b"{}", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\x00\x01"])
def test_bad_bytes_raise_a_clear_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        SingleObjectCodec().decode("post", data)


def test_a_record_of_another_type_is_refused() -> None:
    codec = SingleObjectCodec()
    data = codec.encode("metric", {"name": "x", "value": 1.0, "event_time": 1, "trace": {}})
    with pytest.raises(DecodeError, match=r"expected stocktracker\.Post"):
        codec.decode("post", data)


def test_old_records_decode_after_a_backward_compatible_change(tmp_path: Path) -> None:
    old_dir = tmp_path / "v1"
    shutil.copytree(SCHEMA_DIR, old_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    old_bytes = SingleObjectCodec(SchemaSet(old_dir)).encode("post", POST)

    new_dir = tmp_path / "v2"
    shutil.copytree(old_dir, new_dir)
    (new_dir / "history").mkdir(exist_ok=True)
    shutil.copy(old_dir / "post.avsc", new_dir / "history" / "post.v1.avsc")
    schema = json.loads((new_dir / "post.avsc").read_text())
    schema["fields"].insert(3, {"name": "flair", "type": ["null", "string"], "default": None})
    schema["fields"].insert(3, {"name": "verified", "type": "boolean", "default": False})
    (new_dir / "post.avsc").write_text(json.dumps(schema))

    new_codec = SingleObjectCodec(SchemaSet(new_dir))
    decoded = new_codec.decode("post", old_bytes)
    assert decoded["verified"] is False and decoded["flair"] is None
    assert decoded["text"] == POST["text"]
    shutil.rmtree(new_dir / "history")
    with pytest.raises(DecodeError, match="unknown schema fingerprint"):
        SingleObjectCodec(SchemaSet(new_dir)).decode("post", old_bytes)


SYMBOL = "SPY261124C00590000"


def test_a_position_record_carries_its_flags_through_the_codec() -> None:
    codec = SingleObjectCodec()
    position = Position(SYMBOL, "SPY", 3, 1.1, realized_pnl=-1.95, stranded=True)
    record = position_record(position, 1.05, 7, {"book_out": 9})
    decoded = codec.decode("position", codec.encode("position", record))
    assert decoded == {**record, "stale": False, "stranded": True}
    stale = position_record(replace(position, stale=True, stranded=False), 1.05, 7, {})
    assert codec.decode("position", codec.encode("position", stale))["stale"] is True


def test_a_position_written_before_the_flags_decodes_with_both_false(tmp_path: Path) -> None:
    old = codec_before(tmp_path / "v1", "position.v1")
    assert "stale" not in {f["name"] for f in old.schemas.schema("position")["fields"]}
    old_bytes = old.encode("position", {"underlying": "SPY", "symbol": SYMBOL, "qty": 2,
                                        "avg_price": 1.25, "realized_pnl": -1.3, "mark": 1.3,
                                        "event_time": 7, "trace": {"book_out": 9}})
    decoded = SingleObjectCodec().decode("position", old_bytes)
    assert decoded["stale"] is False and decoded["stranded"] is False
    assert decoded["qty"] == 2 and decoded["mark"] == 1.3 and decoded["trace"] == {"book_out": 9}


class _Registry(BaseHTTPRequestHandler):
    """A local server answering like Confluent Schema Registry's REST API."""

    schemas: ClassVar[dict[int, str]] = {}
    subjects: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: Any) -> None:
        return

    def _reply(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        subject = self.path.split("/")[2]
        schema = body["schema"]
        ids = {s: i for i, s in self.schemas.items()}
        sid = ids.get(schema) or len(self.schemas) + 1
        self.schemas[sid] = schema
        self.subjects[subject] = sid
        self._reply({"id": sid})

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["schemas", "ids"] and int(parts[2]) in self.schemas:
            self._reply({"schema": self.schemas[int(parts[2])]})
        else:
            self._reply({"error_code": 40403, "message": "Schema not found"}, 404)


@pytest.fixture
def registry() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_registry_codec_writes_the_confluent_wire_format(registry: str) -> None:
    codec = RegistryCodec(registry)
    data = codec.encode("post", POST, topic="posts")
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") >= 1
    assert "stocktracker.Post" in _Registry.subjects
    assert RegistryCodec(registry).decode("post", data, topic="posts")["author"] == "a"
    with pytest.raises(DecodeError):
        codec.decode("post", b"\xc3\x01garbage", topic="posts")


def test_a_quote_written_before_the_derived_flag_decodes_as_quoted(tmp_path: Path) -> None:
    old = codec_before(tmp_path / "v3", "quote.v3")
    assert "derived" not in {f["name"] for f in old.schemas.schema("quote")["fields"]}
    old_bytes = old.encode("quote", {"symbol": SYMBOL, "underlying": "SPY", "bid": 1.2,
                                     "ask": 1.25, "event_time": 7, "trace": {}})
    decoded = SingleObjectCodec().decode("quote", old_bytes)
    assert decoded["derived"] is False and decoded["bid"] == 1.2 and decoded["ask"] == 1.25
    new = SingleObjectCodec().encode("quote", {**decoded, "derived": True})
    assert SingleObjectCodec().decode("quote", new)["derived"] is True
