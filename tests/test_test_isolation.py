"""What one test leaves in this process is put back before the next (conftest's `reset_process`)."""
from __future__ import annotations

from tests.conftest import page_login


def test_an_unreachable_redis_leaves_no_sign_in_counts_for_the_next_test(make_app, world):
    """An app whose Redis cannot be reached switches the (process-wide) limiter to its in-memory
    fallback; left so, every later sign-in of the process counted there, and unrelated tests got
    429 once 30 sign-ins a minute had piled up."""
    unreachable = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    assert page_login(unreachable.test_client(), "alpha", "gridder").status_code == 302
    make_app.reset_process()  # what the next test's restore does
    default = make_app()
    codes = [page_login(default.test_client(), "alpha", "gridder").status_code for _ in range(5)]
    assert codes == [302] * 5  # the account's 5 a minute, all its own: nothing carried over
    assert page_login(default.test_client(), "alpha", "gridder").status_code == 429
