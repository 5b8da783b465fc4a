"""A second ``paperbot run`` on the same SQLite file stops with a message instead of running beside the first."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.sole_process import DatabaseInUse, sole_process

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows: one process by convention")


def test_one_holder_at_a_time(tmp_path):
    db = str(tmp_path / "p.db")
    with sole_process(db):
        second = sole_process(db)
        with pytest.raises(DatabaseInUse, match=r"^storage\.path: another paperbot process is running on"):
            second.__enter__()
        with sole_process(str(tmp_path / "other.db")):  # another file: another lock
            pass
    with sole_process(db):  # released: the next process (e.g. other shards) may take its turn
        pass


def test_second_run_on_the_same_file_exits_2(tmp_path):
    # Discord is an unused loopback port: were the lock not checked, the run would fail differently.
    (tmp_path / "c.toml").write_text(
        '[discord]\napi_base_url = "http://127.0.0.1:9/api/v10"\n[storage]\npath = "p.db"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    env.update({"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x"})
    with sole_process(str(tmp_path / "p.db")):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--config", "c.toml"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    assert result.returncode == 2
    assert "another paperbot process is running on 'p.db'" in result.stderr and "PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr
