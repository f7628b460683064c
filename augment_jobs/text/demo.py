"""Demo raw data for text: support tickets with protected entities and a rare intent.

Deterministic for a logical date, so writing twice is a no-op for the pipeline's fingerprint.
"""

from __future__ import annotations

import json
from typing import Any

# (intent, share, templates); slots: {order} {email} {handle} {product} {amount} {url}
INTENTS: list[tuple[str, float, list[str]]] = [
    ("billing", 0.33, [
        "Hi, I was charged twice for order {order}. Please refund {amount} to my account.",
        "My invoice for {product} shows {amount} but the price was lower. Can you help?",
        "Please cancel my subscription, I keep getting charged for {product}. Contact me at {email}.",
        "Why was I billed {amount} for order {order}? This is a problem, thanks.",
    ]),
    ("delivery", 0.30, [
        "My package for order {order} is late, the delivery was due last week.",
        "Order {order} arrived but the {product} box was empty. Please help asap.",
        "Can I change the delivery address for {order}? New address sent from {email}.",
        "Tracking for {order} has not moved in days, see {url} for the status page.",
    ]),
    ("technical", 0.22, [
        "The app crashes every time I open it on my {product}. Please help.",
        "My {product} screen is broken after the last update, urgent problem.",
        "Battery on the {product} drains fast since the update, any help? Thanks {handle}",
        "The {product} login keeps failing with an error, see screenshot at {url}",
    ]),
    ("account", 0.11, [
        "I cannot reset my password, the reset email never arrives at {email}.",
        "Please change the e-mail on my account to {email}, thanks.",
        "My login is locked after too many attempts, please help {handle}",
    ]),
    ("fraud_report", 0.04, [
        "Someone used my account to place order {order} for {amount}, I did not do this. Urgent!",
        "I see a charge of {amount} I never made, and {handle} messaged me asking for my password.",
    ]),
]
PRODUCTS = ["Pro Max", "PX-200", "PX-310", "TAB-100", "Pro Max 2", "HUB-450"]
NAMES = ["jane", "omar", "li.wei", "k_smith", "ana.silva", "raj", "maria_g", "tom"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]


def tickets(ds: str, rows: int = 400) -> list[dict[str, str]]:
    """`rows` support tickets for `ds`: id, text, intent, channel."""
    from augment_jobs.rng import rng_for

    rng = rng_for(0, ds, "support_tickets")
    shares = [s for _, s, _ in INTENTS]
    total = sum(shares)
    out = []
    for i in range(rows):
        k = int(rng.choice(len(INTENTS), p=[s / total for s in shares]))
        intent, _, templates = INTENTS[k]
        name = NAMES[int(rng.integers(len(NAMES)))]
        text = templates[int(rng.integers(len(templates)))].format(
            order=f"ORD-{int(rng.integers(10000, 99999))}",
            email=f"{name}@{DOMAINS[int(rng.integers(len(DOMAINS)))]}",
            handle=f"@{name.replace('.', '_')}{int(rng.integers(1, 99))}",
            product=PRODUCTS[int(rng.integers(len(PRODUCTS)))],
            amount=f"${int(rng.integers(5, 500))}.{int(rng.integers(0, 100)):02d}",
            url=f"https://status.example.com/t/{int(rng.integers(1000, 9999))}",
        )
        out.append({"ticket_id": f"T{ds.replace('-', '')}{i:05d}", "text": text, "intent": intent,
                    "channel": ["email", "chat", "social"][int(rng.integers(3))]})
    return out


def write_raw(source_uri: str, ds: str) -> None:
    """Write one JSONL partition of support tickets under `source_uri` (local or S3)."""
    from augment_jobs.store import join, store_for

    body = "".join(json.dumps(t, sort_keys=True) + "\n" for t in tickets(ds))
    store_for(source_uri).write_bytes(join(source_uri, "tickets.jsonl"), body.encode())


def example(method: Any) -> tuple[Any, Any]:
    """A few support tickets and a config running `method` on them (method-contract tests)."""
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.frames import example_frame

    cfg = DatasetConfig(
        dataset="example", modality="text", source={"uri": "example/", "format": "jsonl"}, label="intent",
        text_column="text", augment=[{"method": method.name, "params": method.example}], publish={"uri": "example-out"},
    )
    return cfg, example_frame(pd.DataFrame(tickets("2026-01-01", rows=60)))
