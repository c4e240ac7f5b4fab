"""The shared PostgreSQL fixture starts a real server with PostGIS on loopback."""

import psycopg


def test_the_fixture_gives_an_empty_postgis_database_on_loopback(postgres_database):
    assert "@127.0.0.1:" in postgres_database
    with psycopg.connect(postgres_database) as conn:
        assert conn.execute("select postgis_version()").fetchone()[0].startswith("3")
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema='public'"
            " and table_type='BASE TABLE'"
            " and table_name <> 'spatial_ref_sys'").fetchone()[0]
        assert tables == 0
