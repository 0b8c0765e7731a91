"""The local X API against X's own OpenAPI spec: every answer it gives validates.

The schemas are the excerpt under ``tests/resources/x/`` (README.md there: where they come
from). Stream messages are also held to a closed world: a post, its author, their
``public_metrics`` and the envelope may carry only what the spec declares, so a server that
drifts (sends ``retweet_count`` again, a field nobody asked for) fails here.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator, ValidationError

from stocktracker.connectors.simulated.x_server import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    FakeXServer,
    select_fields,
)
from stocktracker.connectors.x import parsing, source
from tests.unit.test_x_source import running
from tests.waiting import eventually_async

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "x"
SPEC = json.loads((RESOURCES / "x-api-v2.167.schema.json").read_text())
OLD_PROBLEMS = json.loads((RESOURCES / "x-api-v2.159-problems.schema.json").read_text())
TOKEN = "local-bearer-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"

# Closed for the stream: these schemas (and the matching_rules items) allow no other key.
CLOSED = ("StreamPostsResponse", "Expansions", "Post", "PostPublicMetrics", "User",
          "UserPublicMetrics", "GetRulesResponseData", "UpdateRulesResponseData")
# v2.167's Post schema names the edit history `edit_history_post_ids`, but the same spec's
# `tweet.fields` and `expansions` enums (and X's documentation of the default fields) name
# it `edit_history_tweet_ids`: that one key is allowed besides the schema's.
EDIT_HISTORY = {"type": "array", "items": {"type": "string"}}


def closed(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with :data:`CLOSED` schemas refusing undeclared keys."""
    strict = copy.deepcopy(document)
    defs = strict["$defs"]
    for name in CLOSED:
        defs[name]["additionalProperties"] = False
    defs["Post"]["properties"]["edit_history_tweet_ids"] = EDIT_HISTORY
    defs["StreamPostsResponse"]["properties"]["matching_rules"]["items"]["additionalProperties"] = False
    return strict


STRICT = closed(SPEC)


def validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator of ``document``'s ``$defs[name]``, its ``$ref`` resolved in ``document``."""
    return Draft202012Validator({**document, "$ref": f"#/$defs/{name}"},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(document: dict[str, Any], name: str, instance: Any) -> None:
    """Raise the first error of ``instance`` against ``$defs[name]``, with its path."""
    errors = sorted(validator(document, name).iter_errors(instance), key=lambda e: e.path)
    if errors:
        raise errors[0]


def check_problem(body: Any) -> None:
    """An error body: v2.167's ``Problem``, or one of the v2.159 problems that v2.167 no
    longer lists (``about:blank``, ``duplicate-rules``), picked by its ``type`` as the
    v2.159 discriminator maps it."""
    mapping = OLD_PROBLEMS["$defs"]["Problem"]["discriminator"]["mapping"]
    if isinstance(body, dict) and body.get("type") in mapping:
        check(OLD_PROBLEMS, mapping[body["type"]].rsplit("/", 1)[1], body)
    else:
        check(SPEC, "Problem", body)


CLIENT_QUERY = {"tweet.fields": ",".join(source.TWEET_FIELDS),
                "expansions": ",".join(source.EXPANSIONS),
                "user.fields": ",".join(source.USER_FIELDS)}
EVERYTHING = {"tweet.fields": ",".join(sorted(TWEET_FIELDS)),
              "expansions": ",".join(sorted(EXPANSIONS)),
              "user.fields": ",".join(sorted(USER_FIELDS))}
QUERIES = {"defaults": {}, "client": CLIENT_QUERY, "everything": EVERYTHING,
           "users without expansion": {"user.fields": "public_metrics,verified"}}


def messages(server: FakeXServer) -> list[dict[str, Any]]:
    """Every kind of stream message :meth:`FakeXServer.tweet` makes."""
    server.add_rule("$SPY lang:en -is:retweet", "stocktracker:cashtag:SPY")
    server.add_rule("cats")
    return [
        server.tweet("$SPY $QQQ 0DTE calls", "trader", followers=5400, verified=True, likes=12,
                     reposts=3, replies=4, cashtags=("SPY", "QQQ"),
                     created_at="2026-11-24T14:30:00.000Z"),
        server.tweet("no cashtag, no rule", "poet", tags=()),
        server.tweet("every rule, the untagged one too", "cat"),
    ]


@pytest.fixture
async def server() -> AsyncIterator[FakeXServer]:
    async with FakeXServer(bearer_token=TOKEN, heartbeat_s=0.05) as fake:
        yield fake


async def read_stream(server: FakeXServer, query: dict[str, str],
                      sent: list[dict[str, Any]]) -> list[Any]:
    """What one stream connection with ``query`` receives for ``sent`` (keep-alives skipped)."""
    async with aiohttp.ClientSession() as session, \
            session.get(server.url + STREAM, params=query, headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        await eventually_async(lambda: server.connected, timeout=5)
        for message in sent:
            assert await server.push(message) == 1
        received: list[Any] = []
        while len(received) < len(sent):
            line = await asyncio.wait_for(response.content.readline(), 5)
            if line.strip():
                received.append(json.loads(line))
    await eventually_async(lambda: server.connected == 0, timeout=5)   # the server saw it go
    return received


async def answer(server: FakeXServer, method: str, path: str, *, body: Any = None,
                 token: str = TOKEN, query: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, server.url + path, json=body, params=query or {},
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


# ---- the excerpt ------------------------------------------------------------------------
def test_the_excerpts_are_valid_json_schema_and_self_contained() -> None:
    for document in (SPEC, OLD_PROBLEMS, STRICT):
        Draft202012Validator.check_schema(document)
        for name in document["$defs"]:      # every $ref resolves inside the document
            validator(document, name).is_valid({})
    assert SPEC["$defs"]["PostPublicMetrics"]["required"][0] == "repost_count"
    assert "post_count" in SPEC["$defs"]["UserPublicMetrics"]["required"]


# ---- the stream -------------------------------------------------------------------------
@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
async def test_every_stream_message_validates_against_the_spec(server: FakeXServer,
                                                               query: dict[str, str]) -> None:
    sent = messages(server)
    received = await read_stream(server, query, sent)

    for message in received:
        check(STRICT, "StreamPostsResponse", message)
    assert received == [json.loads(json.dumps(select_fields(m, query))) for m in sent]


async def test_the_stream_sends_only_the_fields_asked_for(server: FakeXServer) -> None:
    sent = messages(server)[:1]
    [default] = await read_stream(server, {}, sent)
    [ours] = await read_stream(server, CLIENT_QUERY, sent)
    [users] = await read_stream(server, QUERIES["users without expansion"], sent)

    assert set(default) == {"data", "matching_rules"}
    assert set(default["data"]) == {"id", "text", "edit_history_tweet_ids"}
    assert "includes" not in users and set(users["data"]) == set(default["data"])
    assert set(ours["data"]) == {"id", "text", "edit_history_tweet_ids", *parsing.TWEET_FIELDS}
    [author] = ours["includes"]["users"]
    assert set(author) == {"id", "name", "username", *parsing.USER_FIELDS}
    assert set(ours["data"]["public_metrics"]) == set(SPEC["$defs"]["PostPublicMetrics"]["required"])


async def test_old_metric_names_break_the_contract(server: FakeXServer) -> None:
    """The drift this suite exists for: ``retweet_count`` / ``tweet_count`` are not X's."""
    server.legacy_metrics = True
    [legacy] = await read_stream(server, CLIENT_QUERY, messages(server)[:1])

    with pytest.raises(ValidationError, match="repost_count"):
        check(STRICT, "StreamPostsResponse", legacy)
    with pytest.raises(ValidationError, match="post_count"):
        check(STRICT, "User", legacy["includes"]["users"][0])
    current = server.tweet("both names", "a")
    current["data"]["public_metrics"]["retweet_count"] = 1   # an extra name is drift too
    with pytest.raises(ValidationError, match="retweet_count"):
        check(STRICT, "StreamPostsResponse", select_fields(current, CLIENT_QUERY))
    everything = select_fields(server.tweet("unasked", "b", legacy_metrics=False), EVERYTHING)
    with pytest.raises(ValidationError, match="nickname"):
        check(STRICT, "User", {**everything["includes"]["users"][0], "nickname": "b"})


async def test_an_unknown_field_is_refused_as_x_does(server: FakeXServer) -> None:
    status, body = await answer(server, "GET", STREAM,
                                query={"tweet.fields": "created_at,retweet_count"})

    assert status == 400 and server.connected == 0
    check_problem(body)
    check(SPEC, "InvalidRequestProblem", body)
    assert (body["parameter"], body["value"]) == ("tweet.fields", "retweet_count")


# ---- the rules endpoints ----------------------------------------------------------------
async def test_rules_answers_validate_against_the_spec(server: FakeXServer) -> None:
    status, empty = await answer(server, "GET", RULES)
    assert status == 200 and "data" not in empty
    check(STRICT, "GetRulesResponse", empty)

    rules = [{"value": "$SPY lang:en -is:retweet", "tag": "stocktracker:cashtag:SPY"},
             {"value": "cats"}]
    check(SPEC, "UpdateRulesRequest", {"add": rules})
    status, added = await answer(server, "POST", RULES, body={"add": rules})
    assert status == 200 and len(added["data"]) == 2
    check(STRICT, "UpdateRulesResponse", added)

    status, listed = await answer(server, "GET", RULES)
    assert status == 200 and listed["meta"]["result_count"] == 2
    check(STRICT, "GetRulesResponse", listed)

    status, refused = await answer(server, "POST", RULES, body={"add": rules[:1]})
    assert status == 200 and "data" not in refused and len(refused["errors"]) == 1
    # v2.167 lists no duplicate-rules problem: the envelope against v2.167, each error
    # against the v2.159 problem its type names.
    check(STRICT, "UpdateRulesResponse", {k: v for k, v in refused.items() if k != "errors"})
    for error in refused["errors"]:
        check_problem(error)

    delete = {"delete": {"ids": [r["id"] for r in added["data"]]}}
    check(SPEC, "UpdateRulesRequest", delete)
    status, deleted = await answer(server, "POST", RULES, body=delete)
    assert status == 200 and deleted["meta"]["summary"]["deleted"] == 2
    check(STRICT, "UpdateRulesResponse", deleted)


async def test_the_clients_rule_requests_validate_against_the_spec(server: FakeXServer) -> None:
    server.add_rule("$TSLA lang:en -is:retweet", "stocktracker:cashtag:TSLA")   # to delete
    async with running(server, ("SPY",), x_keywords=("0DTE",)):
        pass

    bodies = [r["json"] for r in server.requests if r["path"] == RULES and r["method"] == "POST"]
    assert len(bodies) == 2
    for body in bodies:
        check(SPEC, "UpdateRulesRequest", body)
    stream = next(r["query"] for r in server.requests if r["path"] == STREAM)
    assert stream == CLIENT_QUERY


# ---- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["429", "503"])
@pytest.mark.parametrize("method,path", [("GET", RULES), ("POST", RULES), ("GET", STREAM)])
async def test_fault_answers_are_x_problems(server: FakeXServer, fault: str, method: str,
                                            path: str) -> None:
    (server.stream_faults if path == STREAM else server.rules_faults).append(fault)
    status, body = await answer(server, method, path,
                                body={"add": [{"value": "x"}]} if method == "POST" else None)

    assert status == int(fault) and body["status"] == status
    check_problem(body)


@pytest.mark.parametrize("method,path", [("GET", RULES), ("POST", RULES), ("GET", STREAM)])
async def test_a_wrong_token_is_an_x_problem(server: FakeXServer, method: str, path: str) -> None:
    status, body = await answer(server, method, path, token="wrong",
                                body={"add": [{"value": "x"}]} if method == "POST" else None)

    assert status == 401
    check_problem(body)


def test_xsource_asks_for_exactly_what_the_parser_reads() -> None:
    asked = (source.TWEET_FIELDS, source.EXPANSIONS, source.USER_FIELDS)
    assert asked == (list(parsing.TWEET_FIELDS), list(parsing.EXPANSIONS),
                     list(parsing.USER_FIELDS))
    assert set(parsing.TWEET_FIELDS) <= TWEET_FIELDS and set(parsing.USER_FIELDS) <= USER_FIELDS
