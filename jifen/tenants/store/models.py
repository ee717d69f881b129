"""Stores, catalog items, and stock that only ever changes through recorded movements."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform.db import TenantScoped, db, tenant_fk, utcnow

FUNDING_SOURCES = ("collective_income", "government_subsidy", "donation", "sponsorship", "other")
MOVEMENT_KINDS = ("restock", "correction", "write_off", "redemption")


class Store(TenantScoped, db.Model):
    """积分超市: belongs to a village, or (village_id None) is shared by the whole township."""

    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), tenant_fk(["village_id"], "villages"))
    name: Mapped[str] = mapped_column(String(64))
    village_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
