"""The local Reddit server's answers against the shapes asyncpraw reads and Reddit documents.

Reddit publishes no machine-readable spec. ``tests/resources/reddit/reddit.schema.json``
writes down, with the sources in its README.md (asyncpraw 7.8.1, asyncprawcore 2.4.0,
Reddit's JSON and OAuth2 wiki pages, asyncprawcore's recorded Reddit answers), the OAuth
token answer, the ``Listing`` of ``t3`` links and ``t1`` comments, the error bodies and the
``x-ratelimit-*`` headers. Every answer of ``connectors/simulated/reddit_server.py`` (token,
both listings, each fault, a wrong token) is read raw and validated, so a drift fails here;
each child that validates is also built by asyncpraw the way our source builds it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpraw
import jsonschema
import pytest
from jsonschema import Draft202012Validator

from stocktracker.connectors.base import RawPost
from stocktracker.connectors.reddit.source import build_child, to_post
from stocktracker.connectors.simulated.reddit_server import FakeRedditServer
from tests import contract

SPEC = json.loads((Path(__file__).parents[1] / "resources" / "reddit" / "reddit.schema.json")
                  .read_text())
MULTI = "wallstreetbets+stocks"
Answer = tuple[int, dict[str, str], Any]
LISTING = {"new": "LinkListing", "comments": "CommentListing"}
CHILD = {"new": "Link", "comments": "Comment"}
STATUS = {None: 200, "exhausted": 200, "malformed": 200, "429": 429, "429html": 429, "500": 500}


def validator(name: str) -> Draft202012Validator:
    return contract.validator(SPEC, name)


def check(name: str, instance: Any) -> None:
    contract.check(SPEC, name, instance)


def valid(name: str, instance: Any) -> bool:
    return validator(name).is_valid(instance)


@pytest.fixture
async def server() -> AsyncIterator[FakeRedditServer]:
    async with FakeRedditServer() as s:
        post = s.submit("wallstreetbets", "SPY puts printing", "bears win today", score=12,
                        num_comments=2, flair="DD")
        s.submit("stocks", "Quiet day", author="lurker")
        s.submit("pennystocks", "not in the multireddit")
        first = s.comment("wallstreetbets", "calls are dead", post, flair="Bear")
        s.comment("wallstreetbets", "no they are not", first, score=-3)
        yield s


async def request(server: FakeRedditServer, method: str, path: str, **kwargs: Any) -> Answer:
    async with aiohttp.ClientSession() as session, \
            session.request(method, server.url + path, **kwargs) as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.content_type == "text/html":
            return response.status, headers, await response.text()
        return response.status, headers, await response.json(content_type=None)


async def token(server: FakeRedditServer, secret: str | None = None,
                grant: str = "client_credentials") -> Answer:
    auth = aiohttp.BasicAuth(server.client_id, secret or server.client_secret)
    return await request(server, "POST", "/api/v1/access_token", auth=auth,
                         data={"grant_type": grant})


async def listing(server: FakeRedditServer, kind: str, fault: str | None = None,
                  bearer: str | None = None, **params: str) -> Answer:
    if bearer is None:
        _, _, got = await token(server)
        bearer = got["access_token"]
    if fault is not None:
        server.faults.append(fault)
    return await request(server, "GET", f"/r/{MULTI}/{kind}",
                         params={"limit": "100", "raw_json": "1", **params},
                         headers={"Authorization": f"bearer {bearer}"})


def test_the_schema_is_valid_and_self_contained() -> None:
    Draft202012Validator.check_schema(SPEC)
    text = json.dumps(SPEC)
    for name in SPEC["$defs"]:
        validator(name)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.removeprefix("#/$defs/") in SPEC["$defs"], ref


async def test_the_token_answer(server: FakeRedditServer) -> None:
    status, _, got = await token(server)
    assert status == 200
    check("AccessToken", got)
    assert got["access_token"] in server.tokens
    status, _, got = await token(server, secret="wrong")
    assert status == 401
    check("HTTPError", got)
    assert got["error"] == 401
    status, _, got = await token(server, grant="password")  # Reddit answers OAuth errors 200
    assert status == 200
    check("OAuthError", got)
    assert not valid("AccessToken", got)  # asyncprawcore raises OAuthException on "error"


@pytest.mark.parametrize("kind", ["new", "comments"])
@pytest.mark.parametrize("fault", list(STATUS))
async def test_every_listing_answer(server: FakeRedditServer, kind: str, fault: str | None) -> None:
    status, headers, got = await listing(server, kind, fault)
    assert status == STATUS[fault]
    if fault == "429html":  # as Reddit has answered it: a page, and a wait in whole seconds
        assert isinstance(got, str) and "Too Many Requests" in got
        assert headers["retry-after"].isdigit() and "x-ratelimit-remaining" not in headers
        return
    check("RateLimitHeaders", headers)
    if fault in ("429", "exhausted"):
        assert float(headers["x-ratelimit-remaining"]) == 0
    if status != 200:
        check("HTTPError", got)
        assert got["error"] == status
        return
    check("Listing", got)
    children = got["data"]["children"]
    if fault == "malformed":  # the fault is one broken child first; the rest are as ever
        broken, *children = children
        assert not valid(CHILD[kind], broken)
        got["data"]["children"] = children
    check(LISTING[kind], got)
    assert len(children) == 2  # two in the multireddit, one post elsewhere
    assert {c["data"]["subreddit"] for c in children} <= {"wallstreetbets", "stocks"}
    names = [c["data"]["name"] for c in children]
    assert names == sorted(names, reverse=True)  # newest first (ids grow)


async def test_paging_answers_too(server: FakeRedditServer) -> None:
    _, _, page = await listing(server, "new", limit="1")
    check("LinkListing", page)
    [newest] = page["data"]["children"]
    _, _, older = await listing(server, "new")
    oldest = older["data"]["children"][-1]["data"]["name"]
    status, _, newer = await listing(server, "new", before=oldest)
    assert status == 200
    check("LinkListing", newer)
    assert [c["data"]["name"] for c in newer["data"]["children"]] == [newest["data"]["name"]]


async def test_a_wrong_token_is_an_error(server: FakeRedditServer) -> None:
    status, headers, got = await listing(server, "new", bearer="not-a-token")
    assert status == 401
    check("HTTPError", got)
    check("RateLimitHeaders", headers)
    check("UnauthorizedHeaders", headers)  # asyncprawcore picks InvalidToken from it
    assert not valid("UnauthorizedHeaders", {"www-authenticate": "Basic"})


async def test_asyncpraw_builds_every_valid_child(server: FakeRedditServer) -> None:
    """What validates is what asyncpraw and our source can use (the schema is not looser)."""
    async with asyncpraw.Reddit(client_id="id", client_secret="secret",
                                user_agent="contract-test") as reddit:
        for kind in ("new", "comments"):
            _, _, got = await listing(server, kind)
            for raw in got["data"]["children"]:
                check(CHILD[kind], raw)
                child = build_child(raw, reddit)
                assert child.model is not None, child.reason
                assert child.fullname == raw["data"]["name"]
                assert isinstance(to_post(child, 0), RawPost)


Drift = Callable[[dict[str, Any]], Any]
LINK_DRIFTS: list[Drift] = [
    lambda c: c["data"].pop("id"),
    lambda c: c["data"].update(name="t1_" + c["data"]["id"]),
    lambda c: c["data"].update(created_utc="soon"),
    lambda c: c["data"].update(score="12"),
    lambda c: c["data"].update(author={"name": "poster"}),
    lambda c: c["data"].update(subreddit=""),
    lambda c: c["data"].pop("title"),
    lambda c: c["data"].update(num_comments=None),
    lambda c: c["data"].update(link_flair_text=3),
    lambda c: c.update(kind="t2"),
]
COMMENT_DRIFTS: list[Drift] = [
    lambda c: c["data"].pop("body"),
    lambda c: c["data"].pop("link_id"),
    lambda c: c["data"].update(parent_id="abc"),
    lambda c: c["data"].update(replies=[]),
    lambda c: c["data"].update(created_utc=None),
    lambda c: c.update(kind="t3"),
]


@pytest.mark.parametrize(("kind", "drift"), [("new", d) for d in LINK_DRIFTS]
                         + [("comments", d) for d in COMMENT_DRIFTS])
async def test_a_drifted_child_fails(server: FakeRedditServer, kind: str, drift: Drift) -> None:
    _, _, got = await listing(server, kind)
    child = got["data"]["children"][0]
    check(CHILD[kind], child)
    bad = copy.deepcopy(child)
    drift(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator(CHILD[kind]).validate(bad)


@pytest.mark.parametrize("drift", [
    lambda b: b.update(kind="listing"),
    lambda b: b["data"].pop("after"),
    lambda b: b["data"].update(children={}),
    lambda b: b["data"].update(before="t3 x"),
    lambda b: b["data"]["children"].append({"data": {}}),
])
async def test_a_drifted_listing_fails(server: FakeRedditServer, drift: Drift) -> None:
    _, _, got = await listing(server, "new")
    bad = copy.deepcopy(got)
    drift(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator("Listing").validate(bad)


@pytest.mark.parametrize(("name", "drift"), [
    ("AccessToken", lambda b: b.update(expires_in="86400")),
    ("AccessToken", lambda b: b.pop("scope")),
    ("AccessToken", lambda b: b.update(token_type="mac")),
    ("AccessToken", lambda b: b.update(error="invalid_grant")),
    ("RateLimitHeaders", lambda h: h.update({"x-ratelimit-remaining": "lots"})),
    ("RateLimitHeaders", lambda h: h.update({"x-ratelimit-reset": "1.5"})),
    ("RateLimitHeaders", lambda h: h.pop("x-ratelimit-used")),
    ("HTTPError", lambda b: b.update(error="429")),
])
async def test_a_drifted_token_or_header_fails(server: FakeRedditServer, name: str,
                                               drift: Drift) -> None:
    if name == "AccessToken":
        _, _, got = await token(server)
    elif name == "HTTPError":
        _, _, got = await listing(server, "new", "429")
    else:
        _, got, _ = await listing(server, "new")
    check(name, got)
    bad = copy.deepcopy(got)
    drift(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator(name).validate(bad)
