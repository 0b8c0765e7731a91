"""X (Twitter) filtered stream: rules, parsing and the live source."""

from connectors.x.source import XSource, x_source

__all__ = ["XSource", "x_source"]
