"""The audit log's words: what an entry's action (`application.verify`) and object (`store_orders`)
are called on a page, in the reader's language. One mapping, used wherever the log is shown.

An action is "<object>.<step>"; its words are the object's name and the step's, joined ("积分申请 ·
审核"), so a new action of a known object and a known step needs nothing here. A key with no words
yet is shown as it is, never hidden.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

SUBJECTS = {
    "account": _l("Account"), "application": _l("Points application"), "catalog": _l("Reward catalog"),
    "commitment": _l("Commitment signing"), "delivery": _l("Notification delivery"),
    "dividend_pool": _l("Dividend pool"), "dividend_run": _l("Dividend settlement"), "funds": _l("Funds"),
    "grid": _l("Grid"), "honour": _l("Honour"), "honour_title": _l("Honour title"), "honour_wall": _l("Honour wall"),
    "household": _l("Household"), "household_card": _l("Household card"), "household_tag": _l("Household tag"),
    "identity": _l("ID number"), "integrity": _l("Integrity signal"), "ledger": _l("Points ledger"),
    "notification_prefs": _l("Notification settings"), "order": _l("Store order"), "period": _l("Points year"),
    "points_settings": _l("Points settings"), "recommendation_list": _l("Recommendation list"),
    "rule_category": _l("Rule category"), "rule_item": _l("Rule item"), "rulebook_version": _l("Rulebook version"),
    "staff": _l("Staff"), "stars": _l("Star rating"), "stock": _l("Stock"), "store": _l("Points store"),
    "token": _l("API token"), "township": _l("Township"), "village": _l("Village"),
    "village_group": _l("Village group"), "village_rulebook": _l("Village rulebook"),
}

STEPS = {
    "create": _l("created"), "update": _l("changed"), "delete": _l("deleted"), "login": _l("signed in"),
    "password": _l("password changed"), "setup": _l("set up"), "submit": _l("submitted"),
    "confirm": _l("confirmed"), "withdraw": _l("withdrawn"), "verify": _l("verified"),
    "reject": _l("rejected"), "vote": _l("approved by a panel member"), "oppose": _l("opposed by a panel member"),
    "certify": _l("certified"), "decline": _l("declined"), "publish": _l("put on public notice"),
    "object": _l("objection raised"), "uphold": _l("objection upheld"), "dismiss": _l("objection dismissed"),
    "post": _l("posted"), "correct": _l("corrected"), "sign": _l("signed"), "retry": _l("retried"),
    "approve": _l("approved"), "pay": _l("paid"), "simulate": _l("simulated"), "record": _l("recorded"),
    "reverse": _l("reversed"), "settings": _l("settings changed"), "levels": _l("level names changed"),
    "move": _l("moved"), "retire": _l("retired"), "shortlist": _l("shortlisted"), "renew": _l("renewed"),
    "add_member": _l("member added"), "import": _l("imported"), "import_preview": _l("import previewed"),
    "member_leaves": _l("member left"), "merge": _l("merged"), "merge_in": _l("merged in"),
    "set_status": _l("status changed"), "split": _l("split"), "update_member": _l("member changed"),
    "issue": _l("issued"), "reissue": _l("reissued"), "revoke": _l("revoked"), "rename": _l("renamed"),
    "read": _l("viewed"), "review": _l("reviewed"), "repair_balances": _l("balances repaired"),
    "close": _l("closed"), "close_chunk": _l("closing in progress"), "close_done": _l("closing finished"),
    "items": _l("items changed"), "scan": _l("checked"), "adopt": _l("adopted"), "disable": _l("disabled"),
    "enable": _l("enabled"), "invite": _l("invited"), "new_setup_link": _l("new set-up link"),
    "reset_password": _l("password reset"), "set_roles": _l("roles changed"), "recompute": _l("recomputed"),
    "restock": _l("restocked"), "correction": _l("corrected"), "write_off": _l("written off"),
    "place": _l("placed"), "hand_over": _l("handed over"), "cancel": _l("cancelled"), "expire": _l("expired"),
    "onboard": _l("onboarded"), "offboard": _l("offboarding started"), "offboard_cancel": _l("offboarding cancelled"),
    "export": _l("exported"), "delete_held": _l("deletion held"), "suspend": _l("suspended"),
    "reactivate": _l("reactivated"),
}

OBJECTS = {
    "users": _l("Account"), "applications": _l("Points application"), "catalog_items": _l("Reward catalog"),
    "commitment_signatures": _l("Commitment signing"), "notification_deliveries": _l("Notification delivery"),
    "dividend_pools": _l("Dividend pool"), "dividend_runs": _l("Dividend settlement"),
    "fund_records": _l("Funds"), "fund_settings": _l("Funds"), "grid_nodes": _l("Grid"),
    "grid_level_names": _l("Grid"), "honour_candidates": _l("Honour"), "honour_settings": _l("Honour"),
    "honour_shortlists": _l("Honour"), "honour_titles": _l("Honour title"), "honour_walls": _l("Honour wall"),
    "households": _l("Household"), "residents": _l("Household member"), "household_cards": _l("Household card"),
    "household_tags": _l("Household tag"), "custom_tags": _l("Household tag"),
    "integrity_signals": _l("Integrity signal"), "ledger_transactions": _l("Points ledger"),
    "notification_preferences": _l("Notification settings"), "store_orders": _l("Store order"),
    "period_closes": _l("Points year"), "points_settings": _l("Points settings"),
    "recommendation_lists": _l("Recommendation list"), "rule_categories": _l("Rule category"),
    "rule_items": _l("Rule item"), "rulebook_versions": _l("Rulebook version"), "star_levels": _l("Star rating"),
    "star_ratings": _l("Star rating"), "stock_movements": _l("Stock"), "stores": _l("Points store"),
    "user_tokens": _l("API token"), "tenants": _l("Township"), "township": _l("Township"),
    "villages": _l("Village"), "village_groups": _l("Village group"), "village_rulebooks": _l("Village rulebook"),
    "objections": _l("Objection"), "notices": _l("Public notice"), "role_assignments": _l("Staff"),
    "none": "",
}


def action_label(action: str) -> str:
    """`application.verify` -> "积分申请 · 已审核"; a key without words is shown as it is."""
    subject, _dot, step = action.partition(".")
    if subject in SUBJECTS and step in STEPS:
        return f"{SUBJECTS[subject]} · {STEPS[step]}"
    return action


def object_label(object_type: str) -> str:
    """`store_orders` -> "兑换订单"; an unknown table name is shown as it is."""
    label = OBJECTS.get(object_type)
    return object_type if label is None else str(label)


def unlabelled(actions) -> list[str]:
    """The keys among `actions` that would show raw (a test keeps this empty for every action the code records)."""
    return sorted(a for a in set(actions) if action_label(a) == a)
