"""Loaders for the official source formats, one module per format.

Each loader takes a local path or an http(s) URL (see `fetch.resolve`) and returns typed records
(`TariffLine`, `Note`, `Gri`, `Ruling`); `to_passages` turns them into indexable `Passage`s.
"""
