"""``paperbot demo`` as a user runs it: a subprocess with no token, no config and dead proxies, which must play
the script, print what was delivered and exit 0 by itself, quickly."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

DEMO_DEADLINE = 60.0  # the demo's promise: done within about a minute, even on a busy machine
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: anything that tried a proxy would fail


def _demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env[name] = DEAD_PROXY
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


def _sample_titles() -> dict[str, str]:
    text = (resources.files("bot.demo") / "data" / "sample_papers.json").read_text(encoding="utf-8")
    return {item["paper"]["id"]: item["paper"]["title"] for item in json.loads(text)["new_today"]}


def _run(argv: list[str], tmp_path: Path, stdin: str = "") -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=tmp_path,  # no config.toml here, and nothing written next to the sources
        env=_demo_env(tmp_path),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEMO_DEADLINE * 2,
    )
    return done, time.monotonic() - started


def _delivered(output: str) -> dict[str, list[str]]:
    """The final summary: place -> the arXiv ids it received."""
    summary = output.split("What each place received:", 1)[1]
    places: dict[str, list[str]] = {}
    current = ""
    for line in summary.splitlines():
        if (place := re.match(r"^(\S.*): \d+ papers?$", line)) is not None:
            current = place.group(1)
            places[current] = []
        elif (paper := re.match(r"^  (\d{4}\.\d{4,5})  ", line)) is not None:
            places[current].append(paper.group(1))
    return places


def _assert_played(done: subprocess.CompletedProcess[str], elapsed: float) -> dict[str, list[str]]:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert elapsed < DEMO_DEADLINE, f"the demo took {elapsed:.1f} s"
    places = _delivered(done.stdout)
    titles = _sample_titles()
    # The channel subscription's and the DM alert's papers arrived, each shown with its id and title.
    assert set(places) >= {"#papers", "ben's DMs"}, places
    assert places["#papers"] and places["ben's DMs"], places
    for ids in places.values():
        for paper_id in ids:
            assert f"{paper_id}  {titles[paper_id]}" in done.stdout
    assert "Subscription #1 added" in done.stdout and "Alert #2 added" in done.stdout
    assert "Subscription #3 added" in done.stdout  # the forum subscription
    assert "Traceback" not in done.stderr, done.stderr
    return places


def test_paperbot_demo_plays_the_script_and_exits(tmp_path: Path):
    paperbot = Path(sys.executable).with_name("paperbot")
    argv = [str(paperbot), "demo"] if paperbot.exists() else [sys.executable, "-m", "bot", "demo"]
    done, elapsed = _run(argv, tmp_path)
    places = _assert_played(done, elapsed)
    # The queries decide who gets what: the long-context papers in #papers, the prompt-engineering ones by DM.
    assert "2403.10778" in places["#papers"] and "2403.11296" in places["ben's DMs"]
    # The forum received one post per paper, tagged; ben's 🔖 put one #papers paper into his DMs as well.
    posts = {place: ids for place, ids in places.items() if place.startswith("#paper-forum")}
    assert sorted(i for ids in posts.values() for i in ids) == ["2403.11777", "2403.11925"], places
    assert all(len(ids) == 1 for ids in posts.values()), posts
    assert len(set(places["#papers"]) & set(places["ben's DMs"])) == 1, places
    assert "ben clicks like on" in done.stdout and "You liked" in done.stdout
    # The channel subscription pings its role: the post in #papers starts with the mention, read as a name.
    assert "#papers received:\n  @readers\n  ┌ " in done.stdout
    assert not list(tmp_path.iterdir()), "the demo left files behind"


def test_python_m_bot_demo_interactive_runs_typed_commands(tmp_path: Path):
    typed = "\n".join(
        [
            "/subscriptions add query:agent* channel:#general",  # as ada (staff)
            "ben: /subscriptions list",  # a reader cannot see staff commands: Discord refuses
            "/subscriptions add query:x channel:#nowhere",  # a bad option value: the demo says why
            "more",  # the rest of the sample papers arrive
            "ben: /papers help",
            "quit",
        ]
    )
    done, elapsed = _run([sys.executable, "-m", "bot", "demo", "--interactive"], tmp_path, typed)
    _assert_played(done, elapsed)
    out = done.stdout
    assert "ada in #general: /subscriptions add query:agent* channel:#general" in out
    assert "Subscription #4 added" in out
    assert "Discord would not send that" in out and "no #nowhere here" in out
    assert "paperbot help" in out and "Query language" in out


# Run the demo under an audit hook that records every socket connect and name lookup the process makes.
AUDITED_DEMO = """
import ipaddress, sys
seen = []
def audit(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        seen.append(("connect", args[1][0]))
    elif event == "socket.getaddrinfo":
        seen.append(("lookup", args[0]))
sys.addaudithook(audit)
from bot.__main__ import main
code = main(["demo"])
for kind, host in seen:
    print("AUDIT", kind, host, file=sys.stderr)
sys.exit(code)
"""


def test_the_demo_connects_to_nothing_but_loopback(tmp_path: Path):
    done, elapsed = _run([sys.executable, "-c", AUDITED_DEMO], tmp_path)
    _assert_played(done, elapsed)
    audited = [line.split()[1:] for line in done.stderr.splitlines() if line.startswith("AUDIT ")]
    assert any(kind == "connect" for kind, _ in audited), "the audit hook saw no connection at all"
    for kind, host in audited:
        if kind == "connect":
            assert ipaddress.ip_address(host).is_loopback, (kind, host)
        else:
            assert host in ("127.0.0.1", "localhost", "::1"), (kind, host)


def _pip_or_fail(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command[:5])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


@pytest.mark.slow
def test_demo_from_a_fresh_non_editable_install(tmp_path: Path):
    """SLOW (~20 s): build the wheel, install it (not editable) into a new venv, then run its ``paperbot demo``:
    proves the sample papers and the emulator ship as package data, not only in the source tree. The new venv
    borrows this one's installed dependencies through a path file rather than downloading them again."""
    repo = tmp_path / "src"  # a copy, so the build leaves nothing in the working tree
    shutil.copytree(
        Path(__file__).resolve().parents[2],
        repo,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "*.db*", "benchmarks"),
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    wheels = tmp_path / "wheels"
    _pip_or_fail([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo)], env)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    # This venv's site-packages, as a plain path (a .pth line is not a site dir: its editable-install hook for
    # ``bot`` is not loaded), so the new venv imports ``bot`` from its own wheel and only the dependencies from here.
    borrowed = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(sys.prefix)]
    (next((venv / "lib").glob("python*/site-packages")) / "deps.pth").write_text("\n".join(borrowed) + "\n")
    wheel = next(wheels.glob("paperbot-*.whl"))
    install = ["install", "-q", "--no-deps", "--no-index", str(wheel)]
    _pip_or_fail([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *install], env)
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    work = tmp_path / "work"
    work.mkdir()
    _assert_played(*_run([str(venv / "bin" / "paperbot"), "demo"], work))
