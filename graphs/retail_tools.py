"""Tools of the Snowy Peak Boards scenario (graphs/retail.yaml), backed by in-memory sample data.

Each function takes the keyword arguments its tool's JSON Schema declares, plus an optional
keyword-only `context` (the live session context). Session state (cart, address changes, offer
answers) lives in that context, never in module globals, so concurrent sessions stay apart.
Order dates are relative to today so the bundled demo's return stays inside the return window.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from engine.tools import ToolError

# --- sample data -----------------------------------------------------------------------------------

_CUSTOMERS: dict[str, dict[str, Any]] = {
    "(206) 135-1246": {
        "customer_id": "CUST-20931",
        "first_name": "Jordan",
        "last_name": "Reyes",
        "date_of_birth": "1991-03-03",
        "ssn_last_4": "7309",
        "card_last_4": "4821",
        "email": "jordan.reyes@example.com",
        "address": {"street": "1420 Alpine Way", "city": "Seattle", "state": "WA", "postal_code": "98101"},
        "loyalty_member": False,
    },
    "(503) 555-0187": {
        "customer_id": "CUST-18475",
        "first_name": "Priya",
        "last_name": "Natarajan",
        "date_of_birth": "1986-11-21",
        "ssn_last_4": "2264",
        "card_last_4": "9013",
        "email": "priya.n@example.com",
        "address": {"street": "77 Timberline Road", "city": "Portland", "state": "OR", "postal_code": "97205"},
        "loyalty_member": True,
    },
}

# (order id, days since ordered, days since delivered or None while in transit, status, items)
_ORDERS: dict[str, list[tuple[str, int, int | None, str, list[dict[str, Any]]]]] = {
    "(206) 135-1246": [
        (
            "SPB-48213",
            12,
            9,
            "delivered",
            [
                {"sku": "BRD-SUMMIT-158", "name": "Summit Freeride Snowboard 158 cm", "quantity": 1, "price": 549.00},
                {"sku": "ACC-WAX-UNI", "name": "All-Temperature Board Wax", "quantity": 2, "price": 12.50},
            ],
        ),
        (
            "SPB-47760",
            64,
            60,
            "delivered",
            [{"sku": "BTS-RIDGE-10", "name": "Ridgeline Boa Boots, size 10", "quantity": 1, "price": 289.99}],
        ),
        (
            "SPB-48540",
            2,
            None,
            "shipped",
            [{"sku": "APP-SHELL-M", "name": "Storm Shell Jacket, medium, slate", "quantity": 1, "price": 229.00}],
        ),
    ],
    "(503) 555-0187": [
        (
            "SPB-46102",
            95,
            90,
            "delivered",
            [{"sku": "BND-TRAIL-L", "name": "Trailhead Bindings, large", "quantity": 1, "price": 249.00}],
        ),
    ],
}

_POLICIES: dict[str, dict[str, str]] = {
    "US": {
        "general": (
            "Unused items in original packaging may be returned within 30 days of delivery for a full refund "
            "to the original payment method. Items returned between 31 and 60 days get store credit only. "
            "Returns are free with a prepaid label; refunds post 5 to 7 business days after we receive the item. "
            "Final-sale items (marked down 40 percent or more) cannot be returned."
        ),
        "snowboard": (
            "Snowboards: full refund within 30 days of delivery if the base and edges are unused and the "
            "protective wrap is intact. A board ridden once or twice may be returned within 30 days for store "
            "credit minus a 15 percent restocking fee. Boards with damage from use (edge dings, base gouges) are "
            "not returnable but may qualify for the manufacturer's warranty."
        ),
        "bindings": (
            "Bindings: full refund within 30 days of delivery if never mounted. Mounted bindings may be exchanged "
            "within 30 days for store credit."
        ),
        "boots": (
            "Boots: full refund within 30 days of delivery if never worn outside. Our comfort guarantee allows one "
            "size exchange within 60 days even after riding."
        ),
        "apparel": (
            "Apparel: full refund within 30 days of delivery with tags attached. Worn or washed apparel cannot "
            "be returned."
        ),
        "accessories": (
            "Accessories: full refund within 30 days of delivery if unopened. Opened wax, tools and stickers are "
            "final sale."
        ),
    },
    "CA": {
        "general": (
            "Orders shipped to Canada follow the US policy, except that returns must be postmarked within 30 days "
            "of delivery and refunds are issued in Canadian dollars at the exchange rate of the original purchase. "
            "Duties paid at import are refunded only for full refunds."
        ),
    },
}

_SALES: list[dict[str, Any]] = [
    {
        "item_id": "SALE-BRD-101",
        "category": "snowboard",
        "name": "Drift All-Mountain Snowboard 154 cm",
        "price": 399.00,
        "sale_price": 299.00,
    },
    {
        "item_id": "SALE-BRD-102",
        "category": "snowboard",
        "name": "Backcountry Split Board 160 cm",
        "price": 899.00,
        "sale_price": 719.00,
    },
    {
        "item_id": "SALE-BTS-201",
        "category": "boots",
        "name": "Ridgeline Boa Boots",
        "price": 289.99,
        "sale_price": 229.99,
    },
    {
        "item_id": "SALE-BND-301",
        "category": "bindings",
        "name": "Trailhead Bindings",
        "price": 249.00,
        "sale_price": 189.00,
    },
    {
        "item_id": "SALE-APP-401",
        "category": "apparel",
        "name": "Storm Shell Jacket",
        "price": 229.00,
        "sale_price": 159.00,
    },
    {
        "item_id": "SALE-APP-402",
        "category": "apparel",
        "name": "Merino Base Layer Set",
        "price": 119.00,
        "sale_price": 89.00,
    },
    {
        "item_id": "SALE-ACC-501",
        "category": "accessories",
        "name": "Anti-Fog Goggles, amber lens",
        "price": 139.00,
        "sale_price": 99.00,
    },
]

_SALES_BY_ID = {item["item_id"]: item for item in _SALES}

LOYALTY_OFFER_ID = "PEAK-REWARDS-ENROLL"
_SALES_TAX_RATE = 0.101  # Seattle combined rate; good enough for a demo quote


# --- helpers -------------------------------------------------------------------------------------------


def _customer(phone_number: str) -> dict[str, Any]:
    customer = _CUSTOMERS.get(phone_number)
    if customer is None:
        raise ToolError(f"no account is registered under {phone_number}")
    return customer


def _order(
    order_id: str, ordered_ago: int, delivered_ago: int | None, status: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    today = date.today()
    total = round(sum(i["price"] * i["quantity"] for i in items), 2)
    return {
        "order_id": order_id,
        "order_date": (today - timedelta(days=ordered_ago)).isoformat(),
        "status": status,
        "delivered_date": None if delivered_ago is None else (today - timedelta(days=delivered_ago)).isoformat(),
        "days_since_delivery": delivered_ago,
        "items": items,
        "order_total": total,
    }


# --- authentication ------------------------------------------------------------------------------------


def authenticate_user_information(
    phone_number: str,
    last_4_digits: str,
    last_4_digits_type: str,
    date_of_birth: str,
    *,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify the caller against the account; raising on a mismatch keeps `sets: {authenticated: true}` off."""
    customer = _customer(phone_number)
    expected = customer["card_last_4"] if last_4_digits_type == "credit_card" else customer["ssn_last_4"]
    if date_of_birth != customer["date_of_birth"] or last_4_digits != expected:
        raise ToolError("the details given do not match the account; ask the caller to check them")
    if context is not None:
        context.update(
            customer_id=customer["customer_id"],
            first_name=customer["first_name"],
            phone_number=phone_number,
        )
    return {
        "verified": True,
        "customer_id": customer["customer_id"],
        "first_name": customer["first_name"],
        "last_name": customer["last_name"],
        "address_on_file": customer["address"],
        "loyalty_member": customer["loyalty_member"],
    }


def save_or_update_address(
    phone_number: str,
    street: str,
    city: str,
    state: str,
    postal_code: str,
    *,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    customer = _customer(phone_number)
    address = {"street": street, "city": city, "state": state, "postal_code": postal_code}
    if context is not None:
        context["address"] = address
    changed = address != customer["address"]
    return {"saved": True, "customer_id": customer["customer_id"], "address": address, "changed": changed}


def update_user_offer_response(
    phone_number: str,
    offer_id: str,
    user_response: str,
    *,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    customer = _customer(phone_number)
    if offer_id != LOYALTY_OFFER_ID:
        raise ToolError(f"unknown offer '{offer_id}'; the current offer is {LOYALTY_OFFER_ID}")
    if context is not None:
        context["offer_response"] = user_response
    enrolled = user_response == "ACCEPTED" or customer["loyalty_member"]
    return {"recorded": True, "offer_id": offer_id, "response": user_response, "loyalty_member": enrolled}


# --- returns -------------------------------------------------------------------------------------------


def lookup_orders(phone_number: str) -> dict[str, Any]:
    customer = _CUSTOMERS.get(phone_number)
    if customer is None:
        return {"phone_number": phone_number, "orders": [], "message": "no account found for this number"}
    return {
        "phone_number": phone_number,
        "customer_name": f"{customer['first_name']} {customer['last_name']}",
        "orders": [_order(*row) for row in _ORDERS.get(phone_number, [])],
    }


def retrieve_policy(region: str, item_type: str = "general") -> dict[str, Any]:
    policies = _POLICIES[region]
    # Regions without their own item rules fall back to the US text (the regional note still applies).
    specific = policies.get(item_type) or _POLICIES["US"].get(item_type)
    sections = {"general": policies["general"]}
    if item_type != "general" and specific:
        sections[item_type] = specific
    return {"region": region, "item_type": item_type, "policy": sections}


# --- sales ----------------------------------------------------------------------------------------------


def lookup_new_sales(category: str = "any") -> dict[str, Any]:
    items = [i for i in _SALES if category == "any" or i["category"] == category]
    return {"category": category, "items": [{**i, "discount_percent": _discount(i)} for i in items]}


def _discount(item: dict[str, Any]) -> int:
    return round(100 * (1 - item["sale_price"] / item["price"]))


def add_to_cart(item_id: str, *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    item = _SALES_BY_ID.get(item_id)
    if item is None:
        raise ToolError(f"unknown item '{item_id}'; use an item_id from lookup_new_sales")
    cart: list[str] = [] if context is None else context.setdefault("cart", [])
    cart.append(item_id)
    subtotal = round(sum(_SALES_BY_ID[i]["sale_price"] for i in cart), 2)
    return {"added": item["name"], "cart": list(cart), "subtotal": subtotal}


async def checkout(item_ids: list[str], phone_number: str, *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    customer = _customer(phone_number)
    unknown = [i for i in item_ids if i not in _SALES_BY_ID]
    if unknown:
        raise ToolError(f"unknown items: {', '.join(unknown)}")
    await asyncio.sleep(0)  # stands in for the payment service call
    subtotal = round(sum(_SALES_BY_ID[i]["sale_price"] for i in item_ids), 2)
    tax = round(subtotal * _SALES_TAX_RATE, 2)
    if context is not None:
        context["cart"] = []
    address = (context or {}).get("address") or customer["address"]
    return {
        "order_id": f"SPB-{49000 + len(item_ids) * 17 + int(subtotal) % 97}",
        "items": [_SALES_BY_ID[i]["name"] for i in item_ids],
        "subtotal": subtotal,
        "tax": tax,
        "total": round(subtotal + tax, 2),
        "charged_card_ending": customer["card_last_4"],
        "ship_to": address,
        "estimated_delivery": (date.today() + timedelta(days=5)).isoformat(),
    }
