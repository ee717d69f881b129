"""How long the platform keeps what it keeps: one list, each capability adding its own item, shown
to the township's admins (page: the data retention page; API: GET …/retention). The numbers come
from the same constants and settings the purging code uses, so the page cannot drift from it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform.roles.authz import Actor, action


@dataclass(frozen=True)
class Item:
    key: str
    label: object  # lazy_gettext
    describe: Callable[[], str]  # the rule, in the reader's language, with the configured numbers


ITEMS: dict[str, Item] = {}


def register_retention(key: str, label, describe: Callable[[], str]) -> None:
    ITEMS[key] = Item(key, label, describe)


@action("retention.view")
def policy(actor: Actor) -> list[dict]:
    return [{"key": i.key, "what": str(i.label), "rule": i.describe()} for i in ITEMS.values()]


register_retention("idempotency_keys", _l("Idempotency keys of API requests"), lambda: _(
    "Kept %(hours)d hours; after that the same key is a new request. Deleted nightly.",
    hours=current_app.config["IDEMPOTENCY_KEY_HOURS"]))
register_retention("credentials", _l("Sign-in sessions and setup links"), lambda: _(
    "Deleted nightly 30 days after they expired or were revoked."))
