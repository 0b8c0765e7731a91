"""The model skill panel's data: scores and the underlying's quotes into the feed, the
``model_skill`` event and ``GET /api/skill``, without Kafka or a browser."""

from __future__ import annotations

from typing import Any

from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams import samples as r
from stocktracker.streams.core.settings import SignalSettings
from stocktracker.streams.core.trace import now_us
from stocktracker.web.app import create_app
from stocktracker.web.control import ListWriter
from stocktracker.web.events import SKILL
from stocktracker.web.feed import KafkaFeed
from stocktracker.web.hub import Feed
from stocktracker.web.report import SKILL_MIN_POSTS
from tests.web_auth import TOKEN, web_settings

CODEC = SingleObjectCodec()
S = 1_000_000
T0 = r.T0 - 4 * 3600 * S  # the day's first post, 11:10 UTC
STEP_S = 990  # between posts: longer than the longest horizon, a whole number of quotes
QUOTE_S = 30
# the ensemble's score of each post: the underlying then moves by score %, so every call is
# right and score ranks as the returns do
ENSEMBLE = (0.6, -0.5, 0.3, 0.9, -0.8, 0.45, -0.3, 0.7, -0.65, 0.35, 0.8, -0.4)


def score(post: int, ensemble: float, at: int, models: dict[str, float]) -> dict[str, Any]:
    """A ``Score`` record as the reader decodes it."""
    return CODEC.decode("Score", CODEC.encode("Score", {
        "post_id": f"p-{post}", "ticker": "SPY", "author": f"a{post}", "source": "test",
        "score": ensemble, "confidence": 0.5 + abs(ensemble) / 2,
        "label": "bullish" if ensemble > 0 else "bearish", "engagement": 10,
        "models": [{"model": m, "score": v, "confidence": 0.6, "latency_us": 1000}
                   for m, v in models.items()],
        "revision": 0, "disagreement": False, "vetoed": False, "event_time": at,
        "trace": r.trace("ingest", "score")}))


def underlying(mid: float, at: int) -> dict[str, Any]:
    """The underlying's own ``Quote`` (not an option's)."""
    return CODEC.decode("Quote", CODEC.encode("Quote", {
        "symbol": "SPY", "underlying": "SPY", "bid": round(mid - 0.01, 6), "ask": round(mid + 0.01, 6),
        "bid_size": 100, "ask_size": 100, "option_type": None, "strike": None, "expiry": None,
        "iv": None, "delta": None, "open_interest": None, "volume": None, "event_time": at,
        "trace": {"market_out": now_us()}}))


def day() -> list[tuple[str, dict[str, Any]]]:
    """Posts every 990 s with quotes every 30 s, the price moving by the ensemble's score
    (in %) just after each post. The lexicon says what the ensemble says (right), Claude the
    opposite (always wrong), Groq answered two posts only (too few to judge); option quotes
    in between must not count."""
    records: list[tuple[str, dict[str, Any]]] = []
    posts = {T0 + n * STEP_S * S + 5 * S: n for n in range(len(ENSEMBLE))}
    mid = 500.0
    end = T0 + (len(ENSEMBLE) + 1) * STEP_S * S
    for at in range(T0, end + 1, QUOTE_S * S):
        for posted, n in posts.items():  # the post 5 s after the quote before it
            if at - QUOTE_S * S < posted <= at:
                s = ENSEMBLE[n]
                models = {"lexicon": 0.8 * s, "claude": -s, **({"groq": s} if n < 2 else {})}
                records.append(("scores", score(n, s, posted, models)))
                mid *= 1 + s / 100
        records.append(("quotes", underlying(mid, at)))
        records.append(("quotes", r.quote(bid=1.0, ask=9.0, at=at)))  # an option: ignored
    return sorted(records, key=lambda tr: tr[1]["event_time"])


def test_scores_and_quotes_make_a_model_skill_payload_per_model_and_horizon() -> None:
    settings = web_settings(skill_window_s=86_400)
    feed = Feed(settings.web)
    for topic, record in day():
        feed.ingest(topic, record)
    assert feed.drain().get(SKILL) is None  # computed on the skill's own period, not per record
    payload = feed.refresh_skill()
    assert payload is not None and payload["posts"] == len(ENSEMBLE)
    assert payload["threshold"] == 0.25 and payload["horizons"] == [60, 300, 900]
    assert payload["window_s"] == 86_400 and payload["min_posts"] == SKILL_MIN_POSTS
    assert payload["no_market"] == {"60": 0, "300": 0, "900": 0}
    assert list(payload["models"]) == ["ensemble", "lexicon", "claude", "groq"]
    for horizon in ("60", "300", "900"):
        right = payload["models"]["ensemble"][horizon]
        assert right["n"] == len(ENSEMBLE) and right["calls"] == len(ENSEMBLE)
        assert right["hit_rate"] == 1.0 and right["hits"] == len(ENSEMBLE)
        assert right["ic"] == 1.0 and right["ic_interval"] == [1.0, 1.0]
        assert payload["models"]["lexicon"][horizon]["hit_rate"] == 1.0
        wrong = payload["models"]["claude"][horizon]
        assert wrong["hit_rate"] == 0.0 and wrong["ic"] == -1.0
        assert payload["models"]["groq"][horizon]["n"] == 2  # the page: not enough posts yet
    [event] = feed.drain()[SKILL].items  # queued for the browsers
    assert event == payload and payload["t"] == feed.view.clock_us // 1000
    assert feed.refresh_skill() is None  # nothing new: no computation, nothing sent
    assert feed.metrics()["dashboard"]["skill"]["computed"] == 1


def test_a_later_revision_of_a_post_replaces_its_score() -> None:
    feed = Feed(web_settings(skill_window_s=86_400).web)
    records = day()
    for topic, record in records:
        feed.ingest(topic, record)
    first = next(rec for topic, rec in records if topic == "scores")
    feed.ingest("scores", {**first, "revision": 1, "score": -first["score"]})  # now wrong
    payload = feed.refresh_skill()
    assert payload is not None
    assert payload["models"]["ensemble"]["60"]["hits"] == len(ENSEMBLE) - 1


def test_the_api_answers_the_skill_with_the_token_only_and_new_browsers_get_it() -> None:
    settings = web_settings(skill_window_s=86_400)
    feed = Feed(settings.web)
    app = create_app(settings, feed, ListWriter(), start_emitter=False)
    client = app.test_client()
    empty = client.get("/api/skill", headers={"Authorization": f"Bearer {TOKEN}"}).json
    assert empty["posts"] == 0 and empty["models"] == {} and empty["t"] is None
    for topic, record in day():
        feed.ingest(topic, record)
    feed.refresh_skill()
    assert client.get("/api/skill").status_code == 401
    answer = client.get("/api/skill", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    skill = answer.json
    assert skill["models"]["ensemble"]["300"]["hit_rate"] == 1.0
    assert skill["models"]["claude"]["300"]["hit_rate"] == 0.0
    sio = app.extensions["socketio"].test_client(app, auth={"token": TOKEN})
    snapshot = {m["name"]: m["args"][0] for m in sio.get_received()}[SKILL]
    assert snapshot["snapshot"] and snapshot["items"][0]["models"]["lexicon"]["60"]["hit_rate"] == 1.0


def test_the_threshold_is_the_signal_s_and_the_window_the_setting() -> None:
    settings = web_settings(skill_window_s=2700).model_copy(
        update={"signal": SignalSettings(bullish_threshold=0.5)})
    feed = KafkaFeed(settings, CODEC)  # not started: nothing is read
    assert feed.skill.threshold == 0.5 and feed.skill.window_us == 2700 * S
    for topic, record in day():
        feed.ingest(topic, record)
    payload = feed.refresh_skill()
    assert payload is not None and payload["threshold"] == 0.5
    # the window: the 2700 s before the longest horizon before the pipeline's clock: the
    # last two posts (0.8 and -0.4), one of them a call at 0.5
    assert payload["posts"] == 2 and payload["models"]["ensemble"]["60"]["calls"] == 1
