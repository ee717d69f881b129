"""Seed a township for the points walk-through in the live server's database:
`python -m tests.browser.seed_points <slug>` (the environment names the database).

It builds what the browser test does not exercise itself (a village with a grid branch, two
households with villager accounts, an adopted rulebook, a three-member panel, a grid worker) through
the same service functions the tests use (tests/conftest.build_township, tests/points_world)."""
from __future__ import annotations

import sys
from types import SimpleNamespace

from sqlalchemy import select

from jifen import create_app
from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from tests.conftest import build_township
from tests.points_world import setup_points


def main(slug: str) -> None:
    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴口镇", ["琴口村", "琴南村"])
        db.session.commit()
        setup_points(SimpleNamespace(a=township))
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
