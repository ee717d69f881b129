"""Schemathesis against the app's own OpenAPI document, in process (WSGI), with every check, as a
township admin, a villager and an anonymous client.

Used by tests/test_api_conformance.py (a few examples per operation, in CI) and by
`scripts/schemathesis` (the larger sweep, which prints the counts):

    .venv/bin/python -m tests.api_conformance --max-examples 25 [--role admin] [--phases ...] [-v]

The world is the tests' two townships plus the points world (an adopted rulebook, households, a
panel), on a fresh SQLite file, or on a new database of the PostgreSQL server that
JIFEN_TEST_DATABASE_URL names.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

ROLES = ("admin", "villager", "anonymous")
USERNAMES = {"admin": "admin", "villager": "villager", "anonymous": None}
PHASES = ("examples", "coverage", "fuzzing")
# positive_data_acceptance expects every request that fits the document to succeed (2xx, or
# 401/403/404/409): a rule about the input alone is declared in the document (a 422 when broken),
# a rule that depends on the township's data or the date is a 409 (docs/decisions.md, "422 or
# 409"). One 422 stays: a file whose contents are not what the field asks for (an .xlsx workbook,
# a JPEG or PNG photo), which no JSON schema can say; schemathesis sends random bytes there. Those
# refusals are counted apart (`file_refusals`), only when the 422 names nothing but file fields.
SLUG = "alpha"
BASE_URL = "http://jifen.test"  # the tests' SERVER_NAME


@dataclass
class Counts:
    role: str
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    failures: int = 0  # conformance failures other than 5xx
    errors: int = 0  # operations schemathesis could not test (schema or engine errors)
    file_refusals: int = 0  # 422s naming only file fields whose random bytes are no .xlsx or photo
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)  # (failure title, operation) -> one message

    def report(self) -> str:
        lines = [self.line()] + [f"  {n} x {kind}" for kind, n in self.kinds.most_common()]
        lines += [f"    {label}: {message}" for (_, label), message in list(self.examples.items())[:20]]
        return "\n".join(lines)

    def line(self) -> str:
        return (f"{self.role:9} operations={self.operations} cases={self.cases} server_errors={self.server_errors} "
                f"conformance_failures={self.failures} errors={self.errors} file_refusals={self.file_refusals} "
                f"({self.seconds:.0f} s)")


def build_app(database_url: str | None = None):
    """An app on a migrated database holding the tests' world; returns (app, tokens by role)."""
    from flask_migrate import upgrade

    from jifen.platform.db import db
    from tests.conftest import BASE_CONFIG, api_token, make_world
    from tests.points_world import setup_points

    url = database_url or "sqlite:///" + tempfile.mkdtemp(prefix="jifen-st-") + "/jifen.db"
    app = __import__("jifen").create_app(BASE_CONFIG | {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "schemathesis"})
    with app.app_context():
        upgrade()
        setup_points(make_world())
        db.session.commit()
    _forget_process_caches()
    client = app.test_client()
    tokens = {role: api_token(client, SLUG, name) for role, name in USERNAMES.items() if name}
    return app, tokens


def _forget_process_caches() -> None:
    from jifen.platform.ratelimit import limiter
    from jifen.platform.townships import lookup

    limiter.reset()
    lookup.forget_all()


@contextmanager
def _in_process_probes():
    """Schemathesis 4.x bug: the `ignored_auth` check re-sends a request without its session, and the
    WSGI transport then hands socket-only settings (max_redirects, verify, ...) to werkzeug's
    EnvironBuilder, which raises TypeError; the check is then counted as an error, not run. Drop
    those settings, as the transport already does for requests that keep their session."""
    from schemathesis.transport.wsgi import WSGITransport

    original = WSGITransport.send

    def send(self, case, *, session=None, **kwargs):
        for name in ("max_redirects", "verify", "cert", "proxies"):
            kwargs.pop(name, None)
        return original(self, case, session=session, **kwargs)

    WSGITransport.send = send
    try:
        yield
    finally:
        WSGITransport.send = original


def run(app, role: str, token: str | None, *, max_examples: int, phases=PHASES, seed: int = 1,
        excluded_checks=(), verbose: bool = False) -> Counts:
    """One schemathesis run as `role`; counts its operations, cases and failures."""
    import schemathesis
    from schemathesis.core.failures import ServerError
    from schemathesis.engine import events, from_schema
    from schemathesis.specs.openapi.checks import RejectedPositiveData

    _register_formats()
    config = schemathesis.Config()
    config.update(seed=seed, max_failures=None)
    config.cache.enabled = False  # no .schemathesis/ directory in the working tree
    project = config.projects.override
    # identity: the WSGI transport reads bodies as they are and the app compresses whatever a client
    # accepts (tests/test_static_cache.py checks the compression itself)
    project.update(base_url=BASE_URL, parameters={"tenant_slug": SLUG, "township_slug": SLUG},
                   headers={"Accept-Encoding": "identity"} | ({"Authorization": f"Bearer {token}"} if token else {}))
    project.phases.update(phases=list(phases))
    project.checks.update(included_check_names=["all"], excluded_check_names=list(excluded_checks) or None)
    project.generation.update(max_examples=max_examples, modes=["positive", "negative"], no_shrink=True,
                              database="none")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    counts = Counts(role)
    files = file_fields(app.test_client().get("/api/v1/openapi.json").get_json())
    started = time.monotonic()
    labels = set()
    with _in_process_probes():
        stream = list(from_schema(schema).execute())
    _forget_process_caches()  # this app's townships must not linger for the next test's database
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            labels.add(event.recorder.label)
            counts.cases += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    if isinstance(failure, RejectedPositiveData) and _names_only(
                            event.recorder.find_response(case_id=case_id), files.get(event.recorder.label, set())):
                        counts.file_refusals += 1
                        continue
                    key = failure.title
                    if isinstance(failure, ServerError):
                        counts.server_errors += 1
                    else:
                        counts.failures += 1
                    counts.kinds[key] += 1
                    counts.examples.setdefault((key, event.recorder.label),
                                               _explain(event.recorder, case_id, failure))
        elif isinstance(event, events.NonFatalError):
            counts.errors += 1
            if verbose:
                print(f"  error in {event.label}: {event.value!r}"[:400], file=sys.stderr)
        elif isinstance(event, events.FatalError):
            raise event.exception
    counts.operations = len(labels)
    counts.seconds = time.monotonic() - started
    return counts


def _register_formats() -> None:
    """The document's own string formats, for rules no pattern can state: how to make a value that
    has them (schemathesis cannot guess)."""
    import schemathesis
    from hypothesis import strategies as st

    from jifen.tenants.households.rules import ID_NUMBER_FORMAT, id_check_digit

    first17 = st.text(alphabet="0123456789", min_size=17, max_size=17)
    schemathesis.openapi.format(ID_NUMBER_FORMAT, first17.map(lambda digits: digits + id_check_digit(digits)))


def file_fields(spec: dict) -> dict[str, set[str]]:
    """Per operation label ("POST /api/v1/..."), the body fields that are files (format binary)."""
    found: dict[str, set[str]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):  # the path's own "parameters"
                continue
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                schema = media.get("schema", {})
                while "$ref" in schema:
                    schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
                names = {name for name, prop in schema.get("properties", {}).items()
                         if prop.get("format") == "binary"
                         or prop.get("items", {}).get("format") == "binary"}
                if names:
                    found.setdefault(f"{method.upper()} {path}", set()).update(names)
    return found


def _names_only(response, names: set[str]) -> bool:
    """A 422 whose errors name file fields and nothing else."""
    if response is None or response.status_code != 422 or not names:
        return False
    try:
        errors = response.json().get("errors", {})
    except ValueError:
        return False
    named = {field for location in errors.values() if isinstance(location, dict) for field in location}
    return bool(named) and named <= names


def _explain(recorder, case_id: str, failure) -> str:
    """The failure's first line, the request that caused it and the answer, for a human."""
    case = recorder.cases[case_id].value
    response = recorder.find_response(case_id=case_id)
    answer = f"{response.status_code} {response.text[:300]}" if response is not None else "no response"
    request = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}"
    return f"{failure.message.splitlines()[0]}\n{request}\n-> {answer}"


def _fresh_postgres() -> str | None:
    """A new database on the server JIFEN_TEST_DATABASE_URL names (as the tests do); None: SQLite."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("JIFEN_TEST_DATABASE_URL")
    if not server:
        return None
    name = f"jifen_schemathesis_{uuid.uuid4().hex[:6]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    print(f"database {name} (drop it when done)", file=sys.stderr)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--role", choices=ROLES, action="append")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated: examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-v", "--verbose", action="store_true", help="one example of each kind of failure")
    args = parser.parse_args(argv)
    app, tokens = build_app(_fresh_postgres())
    bad = 0
    for role in args.role or ROLES:
        counts = run(app, role, tokens.get(role), max_examples=args.max_examples,
                     phases=args.phases.split(","), seed=args.seed, verbose=args.verbose)
        print(counts.line(), flush=True)
        for kind, n in counts.kinds.most_common():
            print(f"    {n:5} {kind}")
            for (title, label), message in counts.examples.items() if args.verbose else ():
                if title == kind:
                    print(f"          {label}: " + message.replace("\n", "\n            "))
        bad += counts.server_errors + counts.failures + counts.errors
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
