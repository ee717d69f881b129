"""The demo's dashboard figures: tonight's facts built over the demo's points history."""
from __future__ import annotations

from jifen.platform import clock
from jifen.platform.db import db
from jifen.tenants.cockpit import facts


def load_demo(admin_actor, villages: dict) -> str | None:
    result = facts.build(clock.today())
    db.session.commit()
    return (f"Dashboard: figures of {result['months']} months built from the history: /t/longwo/cockpit/ "
            f"(full-screen display: /t/longwo/cockpit/screen)")
