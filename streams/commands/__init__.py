"""The top floor: the commands (CLI, worker, demo, backtest and research, the Kafka manager
and the local broker). Nothing below imports from here."""
