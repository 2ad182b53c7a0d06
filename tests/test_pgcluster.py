"""Smoke test for tests/pgcluster.py: a real throwaway PostgreSQL cluster."""
import os
import time

import psycopg
import pytest

try:
    from tests.pgcluster import PostgresCluster
    from tests.pgcluster import available
except ImportError:  # tests/ not importable as a package (rootdir not on sys.path)
    from pgcluster import PostgresCluster
    from pgcluster import available


def _libpq_dsn(url):
    # SQLAlchemy URL -> libpq URI that psycopg.connect accepts
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.mark.skipif(not available(), reason="PostgreSQL 15 binaries not available")
def test_cluster_lifecycle():
    cluster = PostgresCluster()
    t0 = time.perf_counter()
    cluster.start()
    print(f"\nPostgresCluster.start() took {time.perf_counter() - t0:.2f}s")
    tmpdir = cluster.tmpdir
    try:
        assert os.path.isdir(tmpdir)
        for _ in range(2):  # two create/drop round trips with the same name
            url = cluster.create_database("authserver_smoke")
            assert url == f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/authserver_smoke"
            # keep a connection open so drop_database must terminate it
            conn = psycopg.connect(_libpq_dsn(url))
            assert conn.execute("select 1").fetchone() == (1,)
            cluster.drop_database("authserver_smoke")
            conn.close()
        with psycopg.connect(_libpq_dsn(cluster.url("postgres"))) as conn:
            names = [r[0] for r in conn.execute("select datname from pg_database")]
        assert "authserver_smoke" not in names
    finally:
        cluster.stop()
    assert not os.path.exists(tmpdir)
    cluster.stop()  # idempotent


@pytest.mark.skipif(not available(), reason="PostgreSQL 15 binaries not available")
def test_cluster_takes_server_settings():
    # compare.py's scale runs need shared_buffers that hold a million sessions
    with PostgresCluster(settings={"shared_buffers": "160MB", "work_mem": "8MB"}) as cluster:
        with psycopg.connect(_libpq_dsn(cluster.url("postgres"))) as conn:
            assert conn.execute("show shared_buffers").fetchone() == ("160MB",)
            assert conn.execute("show work_mem").fetchone() == ("8MB",)
