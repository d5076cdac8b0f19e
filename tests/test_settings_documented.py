"""Every setting the service reads is listed in .env.example and in the README, by its whole
name: a longer variable that starts with the same letters (`BFF_JWT_KEYS_FILE` for
`BFF_JWT_KEYS`) does not count."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import AliasChoices

from bff.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def variable_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"BFF_{name.upper()}"]


def in_env_example(name: str, text: str) -> bool:
    """`NAME=` at the start of a line."""
    return re.search(rf"^{re.escape(name)}=", text, re.MULTILINE) is not None


def in_readme(name: str, text: str) -> bool:
    """A table row whose first cell is the backquoted `NAME`."""
    return re.search(rf"^\|\s*`{re.escape(name)}`\s*\|", text, re.MULTILINE) is not None


Lists = Callable[[str, str], bool]
DOCUMENTS: dict[str, Lists] = {".env.example": in_env_example, "README.md": in_readme}


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
@pytest.mark.parametrize("setting", sorted(Settings.model_fields))
def test_every_setting_is_documented(document: str, setting: str) -> None:
    # given the document operators read
    text = (ROOT / document).read_text()
    # when looking for the setting's environment variable
    # then it is there
    assert any(DOCUMENTS[document](name, text) for name in variable_names(setting)), (
        setting,
        document,
    )


@pytest.mark.parametrize(
    ("document", "text"),
    [
        pytest.param(
            ".env.example", "BFF_JWT_KEYS_FILE=\n# BFF_JWT_KEYS= in a comment\n", id="env"
        ),
        pytest.param(
            "README.md",
            "| `BFF_JWT_KEYS_FILE` | unset | the ring file; or use `BFF_JWT_KEYS` |\n",
            id="readme",
        ),
    ],
)
def test_a_longer_sibling_or_a_passing_mention_does_not_document_a_setting(
    document: str, text: str
) -> None:
    # given a document that lists BFF_JWT_KEYS_FILE and only mentions BFF_JWT_KEYS in passing
    lists = DOCUMENTS[document]
    # when both names are looked for
    # then only the listed one is found
    assert lists("BFF_JWT_KEYS_FILE", text)
    assert not lists("BFF_JWT_KEYS", text)
