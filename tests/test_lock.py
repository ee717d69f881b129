"""The lock files agree with pyproject.toml, and every install reads them.

requirements/runtime.txt is what ./scripts/serve and the image install, requirements/test.txt what
./scripts/test (and CI) installs, requirements/build.txt the setuptools that builds Jifen itself in
both: exact versions with hashes, written by ./scripts/lock. If someone
edits a dependency in pyproject.toml without running ./scripts/lock, this fails and says which."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUNTIME, TEST, BUILD = (ROOT / "requirements" / f"{name}.txt" for name in ("runtime", "test", "build"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(text: str) -> tuple[dict[str, Version], set[str]]:
    """{package: locked version}, and the packages the lock says come straight from pyproject."""
    pins: dict[str, Version] = {}
    direct: set[str] = set()
    current = None
    for line in text.splitlines():
        m = PIN.match(line)
        if m:
            current = canonicalize_name(m[1])
            assert current not in pins, f"{current} locked twice"
            pins[current] = Version(m[2])
        elif current and re.search(r"\bjifen \(pyproject\.toml(::build-system\.requires)?\)", line):
            direct.add(current)
        elif line.startswith(("-e", "--editable")) or (line and not line.startswith((" ", "#"))):
            raise AssertionError(f"not a pinned requirement: {line!r}")
    return pins, direct


def disagreements(requirements: list[str], lock_text: str) -> list[str]:
    """What is wrong between these requirements (pyproject's strings) and a lock file's text."""
    pins, direct = read_lock(lock_text)
    wanted = [Requirement(r) for r in requirements]
    problems = []
    for req in wanted:
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req}: not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: the lock has {pins[name]}")
        if not req.specifier or not any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier):
            problems.append(f"{req}: no upper bound")
    for name in sorted(direct - {canonicalize_name(r.name) for r in wanted}):
        problems.append(f"{name}: locked as a direct dependency, but pyproject no longer asks for it")
    return problems


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_runtime_lock_agrees_with_pyproject_and_holds_no_test_tool():
    runtime = _project()["dependencies"]
    assert disagreements(runtime, RUNTIME.read_text(encoding="utf-8")) == []
    pins, direct = read_lock(RUNTIME.read_text(encoding="utf-8"))
    test_extra = {canonicalize_name(Requirement(r).name) for r in _project()["optional-dependencies"]["test"]}
    assert test_extra & direct == set(), "the runtime lock was made with the test extra"
    assert {"pytest", "hypothesis", "playwright", "schemathesis"} & set(pins) == set()


def test_the_test_lock_agrees_with_pyproject_and_pins_the_runtime_packages_alike():
    project = _project()
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    assert disagreements(wanted, TEST.read_text(encoding="utf-8")) == []
    runtime, _ = read_lock(RUNTIME.read_text(encoding="utf-8"))
    test, _ = read_lock(TEST.read_text(encoding="utf-8"))
    assert {n: (v, test.get(n)) for n, v in runtime.items() if test.get(n) != v} == {}


def test_the_build_backend_is_bounded_and_locked():
    """`pip install .` used to fetch the newest setuptools at every install: now the locked one."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    assert disagreements(requires, BUILD.read_text(encoding="utf-8")) == []
    pins, direct = read_lock(BUILD.read_text(encoding="utf-8"))
    assert set(pins) == direct == {"setuptools"}  # nothing else (setuptools builds wheels itself)


def test_every_locked_release_carries_its_hashes():
    for lock in (RUNTIME, TEST, BUILD):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8"))
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, (lock.name, block.splitlines()[0])


def test_a_pyproject_edit_without_a_new_lock_is_caught():
    lock = RUNTIME.read_text(encoding="utf-8")
    deps = _project()["dependencies"]
    raised = [re.sub(r"^Flask>=[^,]+", "Flask>=99", d) for d in deps]
    assert disagreements(raised, lock) == ["Flask<4,>=99: the lock has " + str(read_lock(lock)[0]["flask"])]
    assert disagreements(deps + ["humanize>=4,<5"], lock) == ["humanize<5,>=4: not in the lock"]
    assert disagreements([d for d in deps if not d.startswith("segno")], lock) == [
        "segno: locked as a direct dependency, but pyproject no longer asks for it"]
    assert disagreements([d.replace(",<2.2", "") if d.startswith("SQLAlchemy") else d for d in deps], lock) == [
        "SQLAlchemy>=2.0: no upper bound"]


def test_xlsx_uploads_are_parsed_with_defusedxml_and_zones_come_with_tzdata():
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True  # openpyxl switches to defusedxml only when it is importable
    deps = {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}
    assert {"defusedxml", "tzdata"} <= deps


def test_the_scripts_and_the_image_install_from_the_lock():
    setup = (ROOT / "scripts" / "_setup.sh").read_text(encoding="utf-8")
    assert "--require-hashes -r \"$lock\" -r requirements/build.txt" in setup
    assert "lock=requirements/runtime.txt" in setup and "lock=requirements/test.txt" in setup
    assert "install -q --no-deps --no-build-isolation -e ." in setup  # built with the locked setuptools
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/runtime.txt -r requirements/build.txt" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert re.search(r"^RUN pip install \.", dockerfile, re.M) is None
    assert "--output-file requirements/build.txt" in (ROOT / "scripts" / "lock").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
