"""Alpaca: the broker adapter and the option chain, through the alpaca-py SDK.

:mod:`~connectors.alpaca.broker` implements :class:`~connectors.broker.Broker` on Alpaca's
trading API and trade-updates stream; :mod:`~connectors.alpaca.chain` reads option
contracts and chain snapshots; :mod:`~connectors.alpaca.convert` maps the SDK's models to
ours; :mod:`~connectors.alpaca.limiter` keeps every REST call within Alpaca's rate limit.
"""
