"""A codec as a producer running an older release had it: today's schemas with some
replaced by their past versions from ``schemas/history/`` (schema-evolution tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

from stocktracker.schemas.codec import SCHEMA_DIR, SchemaSet, SingleObjectCodec


def codec_before(directory: Path, *versions: str) -> SingleObjectCodec:
    """A codec over a copy of the schemas in ``directory`` where each of ``versions``
    (``"quote.v3"``: ``schemas/history/quote.v3.avsc``) stands in for its current schema."""
    shutil.copytree(SCHEMA_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__",
                                                                         "history"))
    for version in versions:
        name = version.split(".")[0]
        shutil.copy(SCHEMA_DIR / "history" / f"{version}.avsc", directory / f"{name}.avsc")
    return SingleObjectCodec(SchemaSet(directory))
