"""Tariff classification assistant: ranked HS/HTS suggestions with cited sources, confirmed by an officer."""

__version__ = "0.1.0"
