"""Reddit: new submissions and comments of the configured subreddits, through asyncpraw
(config, source and factory)."""
