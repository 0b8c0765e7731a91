"""A failing pipeline story reports the end of its worker's log with the failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stocktracker.streams.commands.local_run import Run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Run):
                report.sections.append(("worker log (end)", value.log_tail()))
