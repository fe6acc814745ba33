"""A throwaway schema on the PostgreSQL test server, shared by the storage, API and reliability tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from sqlalchemy.engine import make_url


def pg_schema_url(base: str, *, prefix: str = "t_") -> Iterator[str]:
    """Yield a URL on a fresh schema of the PostgreSQL server `base`; the schema is dropped afterwards."""
    import psycopg

    schema = prefix + uuid.uuid4().hex[:12]
    conninfo = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
