"""Reddit: new submissions and comments of the configured subreddits, through asyncpraw."""

from connectors.reddit.source import RedditSource, reddit_source

__all__ = ["RedditSource", "reddit_source"]
