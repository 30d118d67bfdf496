"""Tools of the NewTelco scenario (graphs/chat_supervisor.yaml): the supervisor model calls them.

Sample data only: one policy library, two accounts and a handful of stores.
"""

from __future__ import annotations

import asyncio
from typing import Any

_POLICIES: dict[str, dict[str, str]] = {
    "billing": {
        "title": "Billing cycles and late payments",
        "text": (
            "Bills are issued on the 1st of each month and are due on the 21st. Charges for add-ons, roaming and "
            "device installments appear on the bill after the cycle they were used in. A late fee of $7 applies "
            "when a balance is more than 10 days past due. Customers may ask for a one-time courtesy credit of a "
            "late fee once every 12 months."
        ),
    },
    "international_roaming": {
        "title": "International roaming",
        "text": (
            "Without a travel pass, data abroad costs $2.05 per megabyte, calls $1.79 per minute and texts "
            "$0.50 each. The Global Day Pass is $12 per day of use and includes the customer's domestic "
            "allowance. A pass can be added up to 24 hours after travel starts and applies to usage from the "
            "start of that day; earlier usage is not adjusted."
        ),
    },
    "plan_changes": {
        "title": "Changing plans",
        "text": (
            "Plan changes take effect at the start of the next bill cycle, or immediately for upgrades if the "
            "customer asks. Immediate upgrades are prorated. Downgrades never trigger a fee."
        ),
    },
    "device_returns": {
        "title": "Device returns",
        "text": (
            "Phones and tablets may be returned within 14 days of delivery in like-new condition with all "
            "accessories. A $50 restocking fee applies to opened devices, except where the law forbids it."
        ),
    },
    "cancellation": {
        "title": "Cancelling service",
        "text": (
            "Service can be cancelled at any time. Remaining device installments become due on the final bill. "
            "There is no early termination fee on current plans."
        ),
    },
}

_ACCOUNTS: dict[str, dict[str, Any]] = {
    "(415) 555-0142": {
        "account_id": "NT-7730192",
        "name": "Sam Okafor",
        "plan": {"name": "Unlimited Plus", "monthly_price": 65.00, "lines": 1},
        "current_bill": {
            "period": "October 1 to October 31",
            "due_date": "November 21",
            "total_due": 142.37,
            "previous_total": 79.42,
            "charges": [
                {"description": "Unlimited Plus plan", "amount": 65.00},
                {"description": "Device installment 14 of 24", "amount": 14.42},
                {"description": "International roaming data, Mexico, 30 MB", "amount": 61.50},
                {"description": "International roaming calls, 0.8 minutes", "amount": 1.45},
            ],
            "autopay": False,
            "paid": False,
        },
        "travel_pass": False,
        "address_zip": "94110",
    },
    "(312) 555-0199": {
        "account_id": "NT-5512077",
        "name": "Dana Whitfield",
        "plan": {"name": "Essentials Family", "monthly_price": 120.00, "lines": 3},
        "current_bill": {
            "period": "October 1 to October 31",
            "due_date": "November 21",
            "total_due": 120.00,
            "previous_total": 120.00,
            "charges": [{"description": "Essentials Family plan, 3 lines", "amount": 120.00}],
            "autopay": True,
            "paid": True,
        },
        "travel_pass": False,
        "address_zip": "60614",
    },
}

_STORES: list[dict[str, Any]] = [
    {
        "name": "NewTelco Mission District",
        "address": "2480 Mission Street, San Francisco, CA 94110",
        "zip_code": "94110",
        "phone": "(415) 555-0110",
        "hours": "Monday to Saturday 9 AM to 8 PM, Sunday 11 AM to 6 PM",
    },
    {
        "name": "NewTelco Union Square",
        "address": "160 Geary Street, San Francisco, CA 94108",
        "zip_code": "94108",
        "phone": "(415) 555-0121",
        "hours": "Every day 10 AM to 9 PM",
    },
    {
        "name": "NewTelco Oakland Uptown",
        "address": "1950 Broadway, Oakland, CA 94612",
        "zip_code": "94612",
        "phone": "(510) 555-0133",
        "hours": "Monday to Saturday 10 AM to 7 PM, closed Sunday",
    },
    {
        "name": "NewTelco Lincoln Park",
        "address": "2301 North Clark Street, Chicago, IL 60614",
        "zip_code": "60614",
        "phone": "(312) 555-0150",
        "hours": "Monday to Friday 9 AM to 8 PM, weekends 10 AM to 6 PM",
    },
]


def lookup_policy_document(topic: str) -> dict[str, Any]:
    """The policy on `topic` (a known key or words from a title); unknown topics list what exists."""
    key = topic.strip().lower().replace(" ", "_")
    doc = _POLICIES.get(key) or next(
        (d for d in _POLICIES.values() if topic.strip().lower() in d["title"].lower()), None
    )
    if doc is None:
        return {"topic": topic, "found": False, "available_topics": sorted(_POLICIES)}
    return {"topic": topic, "found": True, **doc}


def get_user_account_info(phone_number: str, *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    account = _ACCOUNTS.get(phone_number)
    if account is None:
        return {"phone_number": phone_number, "found": False}
    if context is not None:
        context["account_id"] = account["account_id"]
    return {"phone_number": phone_number, "found": True, **account}


async def find_nearest_store(zip_code: str) -> dict[str, Any]:
    """Stores ordered by how closely their ZIP code matches (a stand-in for a real distance lookup)."""
    await asyncio.sleep(0)  # stands in for a geocoding service call

    def shared_prefix(store: dict[str, Any]) -> int:
        return next((i for i, (a, b) in enumerate(zip(store["zip_code"], zip_code, strict=False)) if a != b), 5)

    ranked = sorted(_STORES, key=lambda s: -shared_prefix(s))
    return {"zip_code": zip_code, "stores": ranked[:2]}
