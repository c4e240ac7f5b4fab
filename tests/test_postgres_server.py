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


def test_a_test_run_killed_with_minus_9_leaves_no_server_behind(tmp_path):
    """pytest killed mid-run runs no fixture teardown; the fixture's watchdog stops the server."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import time\n"
        "def test_hold(postgres_server):\n"
        f"    open({str(tmp_path / 'root.txt')!r}, 'w').write(postgres_server['root'] + ' ' + str(postgres_server['port']))\n"
        "    time.sleep(600)\n", encoding="utf-8")
    root_dir = Path(__file__).resolve().parent
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(probe),
                             "--rootdir", str(root_dir), "-c", os.devnull, "--confcutdir", str(root_dir),
                             "-p", "conftest"], cwd=root_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": f"{root_dir}{os.pathsep}{root_dir.parent}"})
    marker = tmp_path / "root.txt"
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, "the probe did not start its server"
        time.sleep(0.5)
    root, port = marker.read_text().split()
    with psycopg.connect(f"postgresql://pingan@127.0.0.1:{port}/postgres", connect_timeout=5):
        pass  # the server is up
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while Path(root).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not Path(root).exists()
    try:
        psycopg.connect(f"postgresql://pingan@127.0.0.1:{port}/postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        pass
    else:
        raise AssertionError(f"a postgres still answers on port {port}")
