"""What the contract tests share: the spec excerpts under ``tests/resources/<service>/``
(each folder's README says where they come from) and checking an answer against one of
their ``$defs``, with every error listed by its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

RESOURCES = Path(__file__).resolve().parent / "resources"


def load(service: str, name: str) -> dict[str, Any]:
    """One spec excerpt, ``tests/resources/<service>/<name>``."""
    document: dict[str, Any] = json.loads((RESOURCES / service / name).read_text())
    return document


def validator(spec: dict[str, Any], name: str,
              formats: FormatChecker = Draft202012Validator.FORMAT_CHECKER) -> Draft202012Validator:
    """A validator of ``spec``'s ``$defs/<name>`` (its ``$ref``s resolved within ``spec``)."""
    return Draft202012Validator({**spec, "$ref": f"#/$defs/{name}"}, format_checker=formats)


def check(spec: dict[str, Any], name: str, instance: Any,
          formats: FormatChecker = Draft202012Validator.FORMAT_CHECKER) -> None:
    """Assert that ``instance`` is a valid ``name``; the message lists every error."""
    errors = sorted(validator(spec, name, formats).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
