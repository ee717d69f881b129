"""Stores, catalog items, and stock that only ever changes through recorded movements."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

FUNDING_SOURCES = ("collective_income", "government_subsidy", "donation", "sponsorship", "other")
# redemption: taken by a store order when placed (delta < 0); release: given back when the order is
# cancelled or expires (delta > 0). Both carry the order's id.
MOVEMENT_KINDS = ("restock", "correction", "write_off", "redemption", "release")


class Store(TenantScoped, db.Model):
    """积分超市: belongs to a village, or (village_id None) is shared by the whole township."""

    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), tenant_fk(["village_id"], "villages"))
    name: Mapped[str] = mapped_column(String(64))
    village_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CatalogItem(TenantScoped, db.Model):
    """A reward in the township catalog; each store keeps its own stock of it."""

    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        tenant_fk(["photo_file_id"], "stored_files"),
        CheckConstraint("price_points > 0", name="price_positive"),
    )
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    category: Mapped[str] = mapped_column(String(32), default="")
    price_points: Mapped[int]
    unit: Mapped[str] = mapped_column(String(16))  # 支 / 袋 / 瓶 / 斤 …
    description: Mapped[str] = mapped_column(Text, default="")
    photo_file_id: Mapped[uuid.UUID | None]
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class StockLevel(TenantScoped, db.Model):
    """The current stock of one item in one store: a cache of its movements, updated in the same
    transaction as each movement, under a row lock; never below zero."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("tenant_id", "store_id", "catalog_item_id"),
        tenant_fk(["store_id"], "stores"),
        tenant_fk(["catalog_item_id"], "catalog_items"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )
    store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    catalog_item_id: Mapped[uuid.UUID]
    quantity: Mapped[int] = mapped_column(default=0)


class StockMovement(TenantScoped, db.Model):
    """One recorded change of stock: who, when, how many, why, and for a restock the funding."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        tenant_fk(["store_id"], "stores"),
        tenant_fk(["catalog_item_id"], "catalog_items"),
        tenant_fk(["order_id"], "store_orders"),
        CheckConstraint("delta <> 0", name="delta_not_zero"),
    )
    store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    catalog_item_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int]
    quantity_after: Mapped[int]
    funding_source: Mapped[str | None] = mapped_column(String(32))
    unit_cost_fen: Mapped[int | None]  # what one unit cost, in fen, when known
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # the store order of a redemption/release
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


# --- store orders (redemption) and household cards ---------------------------------------------

ORDER_OPEN, ORDER_HANDED_OVER, ORDER_CANCELLED, ORDER_EXPIRED = "open", "handed_over", "cancelled", "expired"
ORDER_STATES = (ORDER_OPEN, ORDER_HANDED_OVER, ORDER_CANCELLED, ORDER_EXPIRED)
PHONE, COUNTER = "phone", "counter"  # how an order was placed: by the villager, or at the store's counter


class OrderCounter(TenantScoped, db.Model):
    """The township's last order number (orders are numbered 1, 2, 3 … per township). Placing an
    order locks this row first, so numbers are never taken twice."""

    __tablename__ = "store_order_counters"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    last_number: Mapped[int] = mapped_column(default=0)


class Order(TenantScoped, db.Model):
    """A household's redemption at a store: its points are reserved and the goods taken from stock
    when it is placed; handing it over spends the points, cancelling or expiry releases both.

    `period` is the ledger period the points were reserved in; the order closes in the same one."""

    __tablename__ = "store_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        tenant_fk(["store_id"], "stores"),
        tenant_fk(["household_id"], "households"),
        CheckConstraint("state IN ('open', 'handed_over', 'cancelled', 'expired')", name="state"),
        CheckConstraint("channel IN ('phone', 'counter')", name="channel"),
        CheckConstraint("total_points > 0", name="total_positive"),
        CheckConstraint("(state = 'open') = (closed_at IS NULL)", name="closed_when_not_open"),
        Index("ix_store_orders_tenant_store_state", "tenant_id", "store_id", "state", "placed_at"),
        Index("ix_store_orders_tenant_household", "tenant_id", "household_id", "placed_at"),
        Index("ix_store_orders_tenant_open", "tenant_id", "placed_at",
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
        # a pickup code names one waiting order of its store; it may come back once that one is closed
        Index("uq_store_orders_open_pickup", "tenant_id", "store_id", "pickup_code", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )
    number: Mapped[int]
    store_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID]
    state: Mapped[str] = mapped_column(String(16), default=ORDER_OPEN)
    channel: Mapped[str] = mapped_column(String(8))
    total_points: Mapped[int]
    period: Mapped[int]
    placed_at: Mapped[datetime] = mapped_column(default=clock.now)
    placed_by: Mapped[uuid.UUID | None]
    placed_by_name: Mapped[str] = mapped_column(String(100), default="")
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[uuid.UUID | None]
    closed_by_name: Mapped[str] = mapped_column(String(100), default="")
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    pickup_code: Mapped[str | None] = mapped_column(String(4))  # a phone order's 4 digits, said at the counter


class OrderLine(TenantScoped, db.Model):
    """One item of an order, with the name, unit and price it had when the order was placed."""

    __tablename__ = "store_order_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "order_id", "catalog_item_id"),
        tenant_fk(["order_id"], "store_orders"),
        tenant_fk(["catalog_item_id"], "catalog_items"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_points > 0", name="unit_points_positive"),
    )
    order_id: Mapped[uuid.UUID]
    catalog_item_id: Mapped[uuid.UUID]
    quantity: Mapped[int]
    unit_points: Mapped[int]
    item_name: Mapped[str] = mapped_column(String(64))
    item_name_en: Mapped[str] = mapped_column(String(100), default="")
    unit: Mapped[str] = mapped_column(String(16), default="")


class HouseholdCard(TenantScoped, db.Model):
    """A household's printed QR card: the QR holds a link to the store counter with `code`, which is
    also printed under it for typing. Random (not the household id), unique in the township; a
    reissue revokes the old card, so a lost card stops working. One live card per household."""

    __tablename__ = "household_cards"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        tenant_fk(["household_id"], "households"),
        Index("uq_household_cards_live", "tenant_id", "household_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
    )
    household_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    issued_by_name: Mapped[str] = mapped_column(String(100), default="")
    revoked_at: Mapped[datetime | None]
    revoked_by_name: Mapped[str] = mapped_column(String(100), default="")
