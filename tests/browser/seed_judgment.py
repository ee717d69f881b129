"""Seed a township for the judgment walk-through (issue 14) in the live server's database:
`python -m tests.browser.seed_judgment <slug>`.

On top of the points world (tests/points_world): the villager's own application for A1 (photo
needed) with a photo, a proxy application the grid worker filed for the second household, and one
staff record certified by the panel and put on the village's public notice, so that the queue,
the notice and the objection form have something to show."""
from __future__ import annotations

import io
import sys
from types import SimpleNamespace

from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from jifen import create_app
from jifen.platform import clock
from jifen.platform.accounts.models import Operator, User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import applications as apps
from jifen.tenants.points import notices
from tests.conftest import build_township
from tests.points_world import setup_points


def _photo() -> FileStorage:
    img = Image.new("RGB", (640, 480), (70, 140, 90))
    for x in range(200, 440):
        for y in range(200, 260):
            img.putpixel((x, y), (230, 200, 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    buf.seek(0)
    return FileStorage(buf, filename="cleanup.jpg", content_type="image/jpeg")


def main(slug: str) -> None:
    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴南镇", ["琴南村", "琴口村"])
        db.session.commit()
        pw = setup_points(SimpleNamespace(a=township))
        with tenant_scope(db.session.get(Tenant, township.tenant_id)):
            def who(username):
                return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())
            today = clock.today().isoformat()
            apps.self_apply(who("villager"), pw.household, {"item_code": "A1", "occurred_on": today,
                                                            "description": "清理村道垃圾两小时"}, [_photo()])
            apps.proxy_apply(who("gridder"), pw.household2, {"item_code": "A2", "occurred_on": today,
                                                             "description": "代李四申请：照顾邻居老人"})
            record = apps.record_conduct(who("gridder"), pw.household, {
                "item_code": "S1", "occurred_on": today, "description": "志愿服务", "points": 5})
            for member in ("panel1", "panel2"):
                apps.vote(who(member), record.id, {"decision": "approve"})
            notices.publish(Actor.system(), pw.village)
            db.session.commit()
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
