"""The platform's clock: one place reads the time, a block can set it, a daily job run for another
date runs as of that date, and no runtime module needs a test library (the README's first command
runs on the runtime install alone)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from freezegun import freeze_time
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.tenants.points import applications as apps
from jifen.tenants.points.models import Notice
from tests.points_world import in_alpha

ROOT = Path(__file__).resolve().parent.parent
TEST_LIBRARIES = ("pytest", "_pytest", "hypothesis", "freezegun", "playwright", "xdist", "schemathesis")
SHANGHAI, UTC_TOWN = SimpleNamespace(timezone="Asia/Shanghai"), SimpleNamespace(timezone="UTC")  # townships


def test_a_block_sets_the_clock_and_the_township_day_follows_its_zone():
    moment = datetime(2026, 3, 1, 17, 0, tzinfo=timezone.utc)  # 01:00 on 2 March in Shanghai
    with clock.at(moment):
        assert moment <= clock.now() < moment + timedelta(minutes=1)  # set, then running on
        assert (clock.today(SHANGHAI), clock.today(UTC_TOWN)) == (date(2026, 3, 2), date(2026, 3, 1))
        with clock.at(moment - timedelta(days=30)):
            assert clock.today(UTC_TOWN) == date(2026, 1, 30)
        assert clock.today(UTC_TOWN) == date(2026, 3, 1)
        seen = []
        worker = threading.Thread(target=lambda: seen.append(clock.now()))  # documented: not across threads
        worker.start()
        worker.join()
    assert abs(seen[0] - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_freezegun_still_moves_the_clock_in_tests():
    with freeze_time("2026-05-01 12:00:00"):
        assert clock.now() == datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
        assert clock.today(SHANGHAI) == date(2026, 5, 1)


def _reads_of_the_time(path: Path) -> list[str]:
    """Places in a module that read the time other than through the clock."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if (base in ("datetime", "date") and node.attr in ("now", "utcnow", "today")) or \
                (base == "time" and node.attr in ("time", "time_ns")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {base}.{node.attr}")
        if node.attr in ("utcnow", "tenant_today"):  # the helpers the clock replaced
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    return found


def test_only_the_clock_reads_the_time():
    clock_module = ROOT / "jifen" / "platform" / "clock.py"
    found = [hit for path in sorted((ROOT / "jifen").rglob("*.py")) if path != clock_module
             for hit in _reads_of_the_time(path)]
    assert found == [], "read the time through jifen.platform.clock:\n" + "\n".join(found)


PROBE = r"""
import ast, importlib, importlib.abc, json, pkgutil, sys

BLOCKED = set(sys.argv[1].split(","))


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is a test library, not installed at runtime")


sys.meta_path.insert(0, Blocker())
import jifen

imported, failed, lazy = [], {}, []


def onerror(name):
    failed[name] = repr(sys.exc_info()[1])


for info in pkgutil.walk_packages(jifen.__path__, "jifen.", onerror=onerror):
    try:
        module = importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = repr(exc)
        continue
    imported.append(info.name)
    # an import inside a function only fails when it runs (the demo's did): read them too
    for node in ast.walk(ast.parse(open(module.__file__, encoding="utf-8").read())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        lazy += [f"{info.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in BLOCKED]
print(json.dumps({"imported": imported, "failed": failed, "lazy": lazy}))
"""


def test_every_runtime_module_imports_without_the_test_libraries(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")} | {
        "JIFEN_DATABASE_URL": f"sqlite:///{tmp_path}/probe.db", "JIFEN_SECRET_KEY": "probe-" + "x" * 40}
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(TEST_LIBRARIES)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == {} and report["lazy"] == [], report
    # the sweep really walked the package: the demo loaders, the workers' entry and the clock among them
    assert {"jifen.demo", "jifen.tenants.points.demo", "jifen.workers.entry", "jifen.platform.clock"} <= \
        set(report["imported"]) and len(report["imported"]) > 150


def test_run_job_for_a_past_date_opens_its_notices_on_that_date(app, world, pw):
    today = in_alpha(app, world, clock.today)
    day = today - timedelta(days=3)

    def certified_item():
        who = {u.username: actor_for(u) for u in db.session.execute(select(User)).scalars()}
        made = apps.self_apply(who["villager"], pw.household, {"item_code": "V1", "occurred_on": day - timedelta(days=1),
                                                               "description": "义务清扫村道"})
        apps.verify(who["gridder"], made.id)  # verification only: certified, waiting for the night's notice
        db.session.commit()
    in_alpha(app, world, certified_item)

    result = app.test_cli_runner().invoke(args=["run-job", "jifen.points_notices", "--tenant", "alpha",
                                                "--date", day.isoformat()])
    assert result.exit_code == 0, result.output

    def notices():
        return [(n.opens_on, n.closes_on, n.created_at.astimezone(clock.zone()).date())
                for n in db.session.execute(select(Notice)).scalars()]
    notice_days = in_alpha(app, world, lambda: apps.settings().notice_days)
    # the notice belongs to the night of `day`: opened, stamped and closing as of then, not the real today
    assert in_alpha(app, world, notices) == [(day, day + timedelta(days=notice_days - 1), day)]

    bad = app.test_cli_runner().invoke(args=["run-job", "jifen.points_notices", "--tenant", "alpha",
                                             "--date", "2026-13-01"])
    assert bad.exit_code == 2 and "--date" in bad.output
