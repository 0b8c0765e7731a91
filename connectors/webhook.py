"""Alert webhooks: a generic JSON endpoint and a Slack incoming webhook, over HTTP (httpx).

Each change of an alert is one POST per configured webhook, with the body of its kind
(:func:`domain.alerts.generic_body`, :func:`domain.alerts.slack_body`). A connection
error, a timeout, a 429 or a 5xx is tried again ``retries`` times with growing pauses (a
429's ``Retry-After`` is waited when it says seconds, up to ``max_wait_s``); a 4xx other
than 429 is not (the body or the URL is wrong: trying again changes nothing). The URLs are
secrets (a Slack webhook URL is its own credential): they are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from stocktracker.domain.alerts import Alert, generic_body, slack_body

log = logging.getLogger(__name__)
GENERIC, SLACK = "generic", "slack"
BODIES: dict[str, Callable[[Alert, str], dict[str, object]]] = {
    GENERIC: generic_body, SLACK: slack_body}


@dataclass(frozen=True, slots=True)
class Webhook:
    """One endpoint: its kind (``generic`` or ``slack``) and URL (a secret)."""

    kind: str
    url: str

    def __repr__(self) -> str:  # the URL is a credential
        return f"Webhook({self.kind})"


class WebhookNotifier:
    """Posts alerts to the webhooks; counts what was sent and what failed.

    Parameters
    ----------
    hooks:
        The endpoints.
    source:
        Names this deployment in every message.
    timeout_s, retries, max_wait_s:
        Per request; tries after the first; longest pause between tries.
    sleep:
        How to wait between tries (tests pass a recorder).
    """

    def __init__(self, hooks: Sequence[Webhook], source: str, timeout_s: float = 5.0,
                 retries: int = 3, max_wait_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        unknown = [h.kind for h in hooks if h.kind not in BODIES]
        if unknown:
            raise ValueError(f"unknown webhook kind(s) {unknown}; known: {sorted(BODIES)}")
        self.hooks = tuple(hooks)
        self.source = source
        self.retries = retries
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.sent = 0
        self.failed = 0
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, alert: Alert) -> bool:
        """Post ``alert`` to every webhook; True when all took it."""
        results = [self._post(hook, alert) for hook in self.hooks]
        return all(results)

    def _post(self, hook: Webhook, alert: Alert) -> bool:
        body = BODIES[hook.kind](alert, self.source)
        for attempt in range(self.retries + 1):
            wait = min(self.max_wait_s, 0.5 * 2 ** attempt)
            try:
                response = self._client.post(hook.url, json=body)
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}"
            else:
                if response.status_code < 300:
                    self.sent += 1
                    return True
                why = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break
                after = response.headers.get("Retry-After", "")
                if after.isdigit():
                    wait = min(self.max_wait_s, float(after))
            if attempt < self.retries:
                self.sleep(wait)
        self.failed += 1
        log.error("alert %s (%s) not delivered to the %s webhook: %s", alert.id, alert.state,
                  hook.kind, why)
        return False

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def notifier_from(webhook_url: str | None, slack_url: str | None, source: str,
                  timeout_s: float, retries: int) -> WebhookNotifier | None:
    """The notifier for the configured URLs (None when there is none)."""
    hooks = [Webhook(kind, url) for kind, url in ((GENERIC, webhook_url), (SLACK, slack_url))
             if url]
    return WebhookNotifier(hooks, source, timeout_s, retries) if hooks else None
