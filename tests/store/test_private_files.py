"""The SQLite database, its WAL and the keys folder are private to the server's user (0600 / 0700),
whether the server makes them or finds them open to others."""

import os
import stat

from authserver import create_app
from authserver.settings import Settings
from authserver.store.database import db
from authserver.store.models import User


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_something(app):
    with app.app_context():
        db.session.execute(db.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
        db.session.execute(db.text("INSERT INTO probe VALUES (1)"))
        db.session.commit()


def test_a_new_sqlite_database_its_wal_and_the_keys_folder_are_private(tmp_path):
    os.umask(0o022)  # the usual umask, which made them 0644 / 0755
    database, keys = tmp_path / "instance" / "auth.db", tmp_path / "keys"
    app = create_app(Settings(database_url=f"sqlite:///{database}", keys_dir=str(keys)))
    try:
        write_something(app)
        with app.app_context():
            connection = db.engine.connect()  # the WAL exists while a connection is open
            connection.exec_driver_sql("SELECT count(*) FROM probe").all()
            assert os.path.exists(f"{database}-wal")
            assert mode(database) == mode(f"{database}-wal") == 0o600
            assert mode(f"{database}-shm") == 0o600
            connection.close()
    finally:
        with app.app_context():
            db.engine.dispose()
    assert mode(keys) == 0o700
    assert mode(database.parent) == 0o700  # made by the server
    for name in os.listdir(keys):
        assert mode(keys / name) == 0o600, name


def test_existing_files_open_to_others_are_tightened_at_start(tmp_path):
    (tmp_path / "data").mkdir()
    os.chmod(tmp_path / "data", 0o755)
    database, keys = tmp_path / "data" / "auth.db", tmp_path / "keys"
    keys.mkdir(mode=0o755)
    os.chmod(keys, 0o755)
    app = create_app(Settings(database_url=f"sqlite:///{database}", keys_dir=str(keys)))
    write_something(app)
    with app.app_context():
        db.engine.dispose()
    os.chmod(database, 0o644)
    os.chmod(keys, 0o755)
    assert (mode(database), mode(keys)) == (0o644, 0o755)
    app = create_app(Settings(database_url=f"sqlite:///{database}", keys_dir=str(keys)))
    with app.app_context():
        db.engine.dispose()
    assert (mode(database), mode(keys)) == (0o600, 0o700)
    assert mode(database.parent) == 0o755  # a folder the server did not make is left alone


def test_the_keys_folder_of_the_app_fixture_is_private(app, keys_dir, backend):
    # The same on PostgreSQL, where only the keys live on disk.
    with app.app_context():
        assert db.session.query(User).count() == 0
    assert mode(keys_dir) == 0o700
