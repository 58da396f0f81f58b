"""The PostgreSQL fixtures themselves (tests/fixtures_pg.py): the archive's PostgreSQL tests stand on them."""

from __future__ import annotations

import uuid

from fixtures_pg import PostgresServer
from sqlalchemy import create_engine, inspect, text


def test_each_test_gets_its_own_empty_database(postgres_server: PostgresServer, pg_url: str) -> None:
    engine = create_engine(pg_url)
    other_name = f"t_other_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(other_name)
    other = create_engine(postgres_server.url(other_name))
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE episodes (id integer PRIMARY KEY)"))
        assert inspect(engine).get_table_names() == ["episodes"]
        assert inspect(other).get_table_names() == []
    finally:
        engine.dispose()
        other.dispose()
        postgres_server.drop_database(other_name)


def test_the_server_speaks_sql_through_sqlalchemy(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version()")).scalar_one()
            assert conn.dialect.driver == "psycopg"
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL ")


def test_case_folding_reaches_beyond_ascii(pg_url: str) -> None:
    """The cluster's locale is C.UTF-8: under plain C, lower() and ILIKE would leave 'É' and 'Ñ' alone."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT lower('ÉSTA CANCIÓN'), 'ñandú' ILIKE '%ÑANDÚ%'")).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("ésta canción", True)
