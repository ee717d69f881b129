"""Demo data: Longwo's points stores and a reward catalog of everyday goods (the source article names
toothpaste, toothbrushes, washing powder, shampoo, cooking oil and rice), with opening stock.

Idempotent: existing stores and items (by name) are left alone, and a store is stocked only while it
has no movement at all. Everything goes through the service functions, so it is audited.
"""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform.db import db
from jifen.tenants.store import service
from jifen.tenants.store.models import CatalogItem, StockMovement, Store

STORES = [  # name, village (None: the township's), address, opening hours
    ("龙窝镇积分超市", None, "龙窝镇政府一楼", "周一至周五 8:30-17:30"),
    ("官田村积分超市", "官田村", "官田村党群服务中心", "每周六 9:00-12:00"),
    ("礼坑村积分超市", "礼坑村", "礼坑村委会一楼", "每周六 9:00-12:00"),
    ("梅园村积分超市", "梅园村", "梅园村文化室旁", "每周日 14:00-17:00"),
]
ITEMS = [  # name, English, category, points, unit, cost of one unit in fen, opening stock (township, village)
    ("牙膏", "Toothpaste", "个人护理", 10, "支", 850, (60, 20)),
    ("牙刷", "Toothbrush", "个人护理", 5, "支", 350, (80, 30)),
    ("香皂", "Soap", "个人护理", 6, "块", 450, (50, 20)),
    ("洗发水", "Shampoo", "个人护理", 20, "瓶", 1800, (30, 10)),
    ("毛巾", "Towel", "日用品", 8, "条", 600, (40, 15)),
    ("洗衣粉", "Washing powder", "清洁用品", 15, "袋", 1200, (40, 12)),
    ("洗衣液", "Laundry liquid", "清洁用品", 25, "瓶", 2200, (20, 4)),
    ("洗洁精", "Dish soap", "清洁用品", 10, "瓶", 800, (40, 12)),
    ("卫生纸(10卷)", "Toilet paper (10 rolls)", "日用品", 15, "提", 1300, (30, 10)),
    ("食用油(5升)", "Cooking oil (5 L)", "粮油副食", 50, "桶", 4500, (20, 5)),
    ("大米(5斤)", "Rice (2.5 kg)", "粮油副食", 30, "袋", 2500, (30, 8)),
    ("酱油", "Soy sauce", "粮油副食", 8, "瓶", 650, (40, 12)),
    ("食盐", "Salt", "粮油副食", 3, "包", 200, (60, 20)),
    ("保温杯", "Vacuum flask", "日用品", 40, "个", 3500, (10, 3)),
    ("雨伞", "Umbrella", "日用品", 25, "把", 2000, (15, 5)),
    ("文具套装", "Stationery set", "文具", 20, "套", 1600, (20, 6)),
    ("作业本(10本)", "Exercise books (10)", "文具", 10, "套", 800, (30, 10)),
    ("电饭煲", "Rice cooker", "日用品", 300, "台", 26000, (3, 1)),
]


def load_demo(admin_actor, villages: dict) -> None:
    stores = {s.name: s for s in db.session.execute(select(Store)).scalars()}
    for name, village, address, hours in STORES:
        if name not in stores:
            stores[name] = service.create_store(admin_actor, {
                "name": name, "village_id": villages[village].id if village else None, "address": address,
                "opening_hours": hours})
    items = {i.name: i for i in db.session.execute(select(CatalogItem)).scalars()}
    for order, (name, name_en, category, points, unit, _cost, _stock) in enumerate(ITEMS, start=1):
        if name not in items:
            items[name] = service.create_catalog_item(admin_actor, {
                "name": name, "name_en": name_en, "category": category, "price_points": points, "unit": unit,
                "sort_order": order * 10})
    for name, village, _address, _hours in STORES:
        store = stores[name]
        if db.session.execute(select(StockMovement.id).where(StockMovement.store_id == store.id).limit(1)).first():
            continue
        # the township store was stocked from a local firm's donation, village stores from collective income
        funding, note = ("donation", "爱心企业捐赠") if village is None else ("collective_income", "村集体经济收入采购")
        for item_name, _en, _category, _points, _unit, cost, (township_qty, village_qty) in ITEMS:
            service.move_stock(admin_actor, store.id, items[item_name].id, "restock",
                               township_qty if village is None else village_qty, funding, cost, note)
