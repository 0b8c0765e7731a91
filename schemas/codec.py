"""Avro codecs for every record the pipeline carries.

Two wire formats:

* :class:`SingleObjectCodec` (default): Avro single-object encoding, ``C3 01`` + the
  writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian) + the binary body,
  against the repo's own ``.avsc`` files. Older versions of a schema live under
  ``schemas/history/`` so records written before a backward-compatible change still
  decode, resolved to the current schema (new fields take their defaults).
* :class:`RegistryCodec`: the Confluent wire format (magic 0, schema id) through a Schema
  Registry, with confluent-kafka's own serializers, used when ``SCHEMA_REGISTRY_URL`` is set.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent
NAMESPACE = "stocktracker"
_MAGIC = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _fp_table()


def rabin_fingerprint(data: bytes) -> int:
    """CRC-64-AVRO (Rabin) fingerprint of ``data``, as the Avro specification defines it."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def schema_fingerprint(parsed: dict[str, Any]) -> bytes:
    """The 8-byte little-endian fingerprint of a parsed schema's canonical form."""
    canonical = to_parsing_canonical_form(parsed).encode()
    return struct.pack("<Q", rabin_fingerprint(canonical))


class DecodeError(ValueError):
    """Bytes that are not a record of the expected type."""


class Codec(Protocol):
    """What the agents and connectors need from a codec."""

    def encode(self, name: str, record: Mapping[str, Any], topic: str = "") -> bytes: ...

    def decode(self, name: str, data: bytes, topic: str = "") -> dict[str, Any]: ...


def full_name(name: str) -> str:
    """``post`` or ``Post`` -> ``stocktracker.Post``."""
    if "." in name:
        return name
    special = {"deadletter": "DeadLetter"}
    return f"{NAMESPACE}.{special.get(name.lower(), name[:1].upper() + name[1:])}"


def _parse(raw: dict[str, Any]) -> dict[str, Any]:
    parsed = fastavro.parse_schema(raw)
    assert isinstance(parsed, dict), "a schema file must hold one record schema"
    return parsed


def _load_dir(directory: Path) -> list[dict[str, Any]]:
    schemas = []
    for path in sorted(directory.glob("*.avsc")):
        with path.open(encoding="utf-8") as handle:
            schemas.append(json.load(handle))
    return schemas


class SchemaSet:
    """The current schemas (``*.avsc``) and their history (``history/*.avsc``)."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.current: dict[str, dict[str, Any]] = {}
        self.texts: dict[str, str] = {}
        self.writers: dict[bytes, dict[str, Any]] = {}
        for raw in _load_dir(directory):
            parsed = _parse(raw)
            self.current[parsed["name"]] = parsed
            self.texts[parsed["name"]] = json.dumps(raw)
            self.writers[schema_fingerprint(parsed)] = parsed
        history = directory / "history"
        if history.is_dir():
            for raw in _load_dir(history):
                parsed = _parse(raw)
                self.writers.setdefault(schema_fingerprint(parsed), parsed)
        self.fingerprints = {name: schema_fingerprint(s) for name, s in self.current.items()}

    def schema(self, name: str) -> dict[str, Any]:
        """The current parsed schema of a record name; KeyError names what exists."""
        key = full_name(name)
        try:
            return self.current[key]
        except KeyError:
            raise KeyError(f"no schema {key!r}; known: {sorted(self.current)}") from None


class SingleObjectCodec:
    """Avro single-object encoding against the repo's schemas."""

    def __init__(self, schemas: SchemaSet | None = None) -> None:
        self.schemas = schemas or SchemaSet()

    def encode(self, name: str, record: Mapping[str, Any], topic: str = "") -> bytes:
        """Encode ``record`` with the current schema of ``name``."""
        schema = self.schemas.schema(name)
        out = io.BytesIO()
        out.write(_MAGIC)
        out.write(self.schemas.fingerprints[schema["name"]])
        fastavro.schemaless_writer(out, schema, record)
        return out.getvalue()

    def decode(self, name: str, data: bytes, topic: str = "") -> dict[str, Any]:
        """Decode bytes written with any known version of ``name``'s schema."""
        reader = self.schemas.schema(name)
        if not isinstance(data, bytes | bytearray) or len(data) < 10 or data[:2] != _MAGIC:
            raise DecodeError("not Avro single-object encoded (missing C3 01 header)")
        writer = self.schemas.writers.get(bytes(data[2:10]))
        if writer is None:
            raise DecodeError(f"unknown schema fingerprint {bytes(data[2:10]).hex()}")
        if writer["name"] != reader["name"]:
            raise DecodeError(f"expected {reader['name']}, got {writer['name']}")
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, reader)
        except Exception as exc:  # fastavro raises several types on truncated bodies
            raise DecodeError(f"corrupt {reader['name']} body: {exc}") from exc
        if not isinstance(value, dict):
            raise DecodeError(f"{reader['name']} did not decode to a record")
        return value


class RegistryCodec:
    """Confluent wire format through a Schema Registry (confluent-kafka serializers).

    Subjects use the record name strategy (``stocktracker.Post``), so one subject per
    record type whatever the topic, and the registry checks compatibility on change.
    """

    def __init__(self, url: str, schemas: SchemaSet | None = None) -> None:
        from confluent_kafka.schema_registry import (
            SchemaRegistryClient,
            record_subject_name_strategy,
        )
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

        self.schemas = schemas or SchemaSet()
        self.client = SchemaRegistryClient({"url": url})
        conf = {"auto.register.schemas": True,
                "subject.name.strategy": record_subject_name_strategy}
        self._serializers: dict[str, Any] = {}
        self._deserializers: dict[str, Any] = {}
        for fname, text in self.schemas.texts.items():
            self._serializers[fname] = AvroSerializer(self.client, text, conf=conf)
            self._deserializers[fname] = AvroDeserializer(self.client, text)

    def encode(self, name: str, record: Mapping[str, Any], topic: str = "") -> bytes:
        """Encode ``record`` in the Confluent wire format, registering the schema once."""
        from confluent_kafka.serialization import MessageField, SerializationContext

        fname = self.schemas.schema(name)["name"]
        ctx = SerializationContext(topic or fname, MessageField.VALUE)
        data = self._serializers[fname](dict(record), ctx)
        assert isinstance(data, bytes)
        return data

    def decode(self, name: str, data: bytes, topic: str = "") -> dict[str, Any]:
        """Decode Confluent wire-format bytes, resolving to the current schema."""
        from confluent_kafka.serialization import MessageField, SerializationContext

        fname = self.schemas.schema(name)["name"]
        if not isinstance(data, bytes | bytearray) or len(data) < 5 or data[0] != 0:
            raise DecodeError("not Confluent wire format (magic byte 0)")
        ctx = SerializationContext(topic or fname, MessageField.VALUE)
        try:
            value = self._deserializers[fname](bytes(data), ctx)
        except Exception as exc:
            raise DecodeError(f"registry decode of {fname} failed: {exc}") from exc
        if not isinstance(value, dict):
            raise DecodeError(f"{fname} did not decode to a record")
        return value


def make_codec(schema_registry_url: str | None) -> Codec:
    """The registry codec when a URL is set, else single-object encoding."""
    if schema_registry_url:
        return RegistryCodec(schema_registry_url)
    return SingleObjectCodec()
