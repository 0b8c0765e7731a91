"""Past posts from files (X API v2 search results, Reddit dumps, CSV) for backtests.

:mod:`.formats` reads a file lazily into the same :class:`~connectors.base.RawPost` /
:class:`~connectors.base.Malformed` items the live sources yield, reusing the live X and
Reddit parsing; :mod:`.posts` runs them through the live ingest's processing chain and
counts what became of them (:class:`~connectors.history.posts.ImportReport`).
"""
