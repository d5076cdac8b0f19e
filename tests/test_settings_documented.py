"""Every setting the service reads is listed in .env.example and in the README."""

from __future__ import annotations

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


@pytest.mark.parametrize("document", [".env.example", "README.md"])
@pytest.mark.parametrize("setting", sorted(Settings.model_fields))
def test_every_setting_is_documented(document: str, setting: str) -> None:
    # given the document operators read
    text = (ROOT / document).read_text()
    # when looking for the setting's environment variable
    # then it is there
    assert any(name in text for name in variable_names(setting)), (setting, document)
