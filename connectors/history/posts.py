"""Past posts through the live ingest's processing chain: kept records and counts of the rest.

Every post read from a file (:func:`connectors.history.formats.read_posts`) goes through
the same :class:`~domain.ingest.Processor` as live ingest (build it with
:func:`connectors.ingest.processor_from_settings`) and a kept one becomes the same Avro
``Post`` dict (:func:`connectors.ingest.post_record`). The processor's time is the post's
own time, so that the dedup window and the relevance decay run on event time as they do in
a replay. One processor serves all the files of an import: a post repeated in a later file
is a duplicate.

An imported post was never received live, so its trace says it was received and emitted at
the moment it was made: ``ingest_in == ingest_out == event_time`` and ``post_age_us == 0``.
The writer (:mod:`.produce`) stamps ``ingest_in`` and ``ingest_out`` again with the wall
clock when it reads and produces the record, as a replay does, so that latency figures
measure the pipeline and not the post's age; ``post_age_us`` stays 0.

A malformed line's reason is prefixed with its file's name (``x.jsonl: line 5: not JSON``),
so that a dead letter says where it came from. A file that fails while it is read (removed,
an I/O error) ends the import with :class:`UnreadableFile` naming it, after the items read
before the failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stocktracker.connectors.base import Malformed
from stocktracker.connectors.history.formats import FORMATS, detect_format, read_posts
from stocktracker.connectors.ingest import post_record
from stocktracker.domain.ingest import KEPT, REASONS, Processor

DROP_REASONS = tuple(r for r in REASONS if r != KEPT)
"""Why the processing chain drops a post, in the chain's order (the report's columns)."""


class UnreadableFile(Exception):
    """A file that could not be read to its end (the items before the failure were yielded)."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(f"cannot read {path}: {cause}")
        self.path = path


@dataclass(slots=True)
class FileReport:
    """What became of the items of one file.

    Attributes
    ----------
    path:
        The file as it was named.
    format:
        One of :data:`~connectors.history.formats.FORMATS`.
    read:
        Items read: ``kept + malformed + sum(dropped.values())``.
    kept:
        Posts kept (their records yielded).
    malformed:
        Lines that could not become posts (yielded as :class:`Malformed`).
    dropped:
        Posts dropped, per reason (:data:`DROP_REASONS`).
    """

    path: str
    format: str
    read: int = 0
    kept: int = 0
    malformed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class ImportReport:
    """Counts of an import, per file in the order read.

    Attributes
    ----------
    files:
        One :class:`FileReport` per file.
    """

    files: list[FileReport] = field(default_factory=list)

    def total(self) -> FileReport:
        """The counts of every file added up (path ``"total"``)."""
        total = FileReport("total", "")
        for one in self.files:
            total.read += one.read
            total.kept += one.kept
            total.malformed += one.malformed
            total.dropped.update(one.dropped)
        return total

    def table(self) -> str:
        """A plain-text table: a row per file and a total, a column per count and reason."""
        heads = ["file", "format", "read", "kept", "malformed", *DROP_REASONS]
        rows = [[one.path, one.format, one.read, one.kept, one.malformed,
                 *(one.dropped[r] for r in DROP_REASONS)] for one in [*self.files, self.total()]]
        cells = [heads, *([str(c) for c in row] for row in rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(heads))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                 for row in cells]
        return "\n".join(lines)


def import_posts(paths: Iterable[Path | str], processor: Processor, report: ImportReport, *,
                 fmt: str | None = None) -> Iterator[dict[str, Any] | Malformed]:
    """Read files of past posts and process them as live ingest does.

    Every file's format is settled before anything is read (a file that cannot be told
    fails the import at once, before a record is yielded); the files are then read lazily
    one after another.

    Parameters
    ----------
    paths:
        The files, read in this order.
    processor:
        The live processing chain (:func:`connectors.ingest.processor_from_settings`).
    report:
        Filled as the items are read: a :class:`FileReport` per file is added at once.
    fmt:
        The format of every file (one of :data:`~connectors.history.formats.FORMATS`);
        ``None``: detected per file.

    Returns
    -------
    Iterator[dict[str, Any] | Malformed]
        The Avro ``Post`` dict of every kept post (its key is ``record["id"]``) and every
        malformed line (for ``deadletter``), in file order.

    Raises
    ------
    ValueError
        An unknown ``fmt``, or a file whose format cannot be told.
    FileNotFoundError
        A file that does not exist (before anything is yielded).
    UnreadableFile
        While iterating: a file that failed while it was read.
    OSError
        A file that cannot be opened to tell its format (before anything is yielded).
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    plan = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}")
        plan.append((path, fmt or detect_format(path)))
    files = [FileReport(str(path), chosen) for path, chosen in plan]
    report.files.extend(files)
    return _run(plan, files, processor)


def _run(plan: list[tuple[Path, str]], files: list[FileReport],
         processor: Processor) -> Iterator[dict[str, Any] | Malformed]:
    for (path, fmt), counts in zip(plan, files, strict=True):
        try:
            yield from _file(path, fmt, counts, processor)
        except OSError as exc:
            raise UnreadableFile(path, exc) from exc


def _file(path: Path, fmt: str, counts: FileReport,
          processor: Processor) -> Iterator[dict[str, Any] | Malformed]:
    named = f"{path.name}: "
    for item in read_posts(path, fmt):
        counts.read += 1
        if isinstance(item, Malformed):
            counts.malformed += 1
            yield item if item.reason.startswith(named) else replace(item, reason=named + item.reason)
            continue
        outcome = processor.process(item, item.created_us)
        if not outcome.kept:
            counts.dropped[outcome.reason] += 1
            continue
        counts.kept += 1
        yield post_record(item, outcome.text, outcome.tickers, item.created_us)
