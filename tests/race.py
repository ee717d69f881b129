"""Racing threads for the PostgreSQL concurrency tests: each thread has its own app context,
session and tenant scope, and all start their work at once."""
from __future__ import annotations

import threading

from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant


def race(app, tenant_id, n: int, work, timeout: float = 60) -> list:
    """Run work(i) in n threads started together; their results in order. Any error fails the test."""
    start, errors, results = threading.Barrier(n), [], [None] * n

    def run(i):
        try:
            with app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
                db.session.commit()
                start.wait(timeout=timeout)
                results[i] = work(i)
                db.session.commit()  # each thread is its own unit of work: services never commit
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return results
