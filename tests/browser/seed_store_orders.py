"""Seed a township for the store orders walk-through in the live server's database:
`python -m tests.browser.seed_store_orders <slug>` (the environment names the database).

A village with a grid branch, two households with villager accounts and points, a store with
storekeeper "keeper" stocking 牙膏, 毛巾 and (out of stock) 洗衣粉 (tests/store_orders_world)."""
from __future__ import annotations

import sys
from types import SimpleNamespace

from sqlalchemy import select

from jifen import create_app
from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from tests.conftest import build_township
from tests.store_orders_world import setup_shop


def main(slug: str) -> None:
    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴南镇", ["琴南村", "琴口村"])
        db.session.commit()
        setup_shop(SimpleNamespace(a=township))
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
