"""The engine registry: engines come from the `tariff_assistant.engines` entry points; a wrong name is refused at
start-up with one line naming the choices."""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.engines import registry
from assistant.errors import InputError
from assistant.review import Desk
from assistant.store.db import Database


def test_the_built_in_engines_register_through_entry_points():
    assert registry.names() == ("offline", "llm")
    assert registry.check("LLM") == "llm" and registry.check(None) == "offline"


def test_an_unknown_engine_is_refused_at_start_up_naming_the_choices(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, engine="ofline")
    with pytest.raises(InputError) as refused:
        Desk(Database.from_settings(settings), settings)
    assert str(refused.value) == "unknown engine 'ofline'; choose one of: offline, llm"
