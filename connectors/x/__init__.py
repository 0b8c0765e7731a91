"""X (Twitter) filtered stream: config, rules, parsing, the live source and its factory."""
