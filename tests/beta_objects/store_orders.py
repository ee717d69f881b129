"""Township beta's store order (the order pages and API name one) and a household card."""
from __future__ import annotations


def objects(found: dict) -> dict:
    from jifen.tenants.store.models import HouseholdCard, Order, OrderLine

    add = found["add"]
    order = add(Order(number=1, store_id=found["store_id"], household_id=found["household_id"], state="open",
                      channel="phone", total_points=5, period=2026))
    add(OrderLine(order_id=order.id, catalog_item_id=found["catalog_item_id"], quantity=1, unit_points=5,
                  item_name="牙膏", unit="支"))
    add(HouseholdCard(household_id=found["household_id"], code="BETA2345"))
    return {"order_id": order.id}
