"""A small, realistic workspace (a Python package, a TypeScript folder) for the retrieval tests."""

from __future__ import annotations

from pathlib import Path

FILES: dict[str, str] = {
    "shop/__init__.py": '''"""A tiny shop."""

from .api import place_order
from .models import Customer, Order

__all__ = ["Customer", "Order", "place_order"]
''',
    "shop/base.py": '''"""What every stored object can do."""


class Model:
    def save(self, path: str) -> None:
        with open(path, "w") as handle:
            handle.write(repr(self))
''',
    "shop/models.py": '''"""Orders and customers."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Model

TAX_RATE = 0.2


class OrderError(Exception):
    """An order that cannot be placed."""


@dataclass
class Customer(Model):
    name: str
    email: str

    def greeting(self) -> str:
        return f"Dear {self.name}"


@dataclass
class Order:
    customer: Customer
    lines: list[tuple[str, int, float]] = field(default_factory=list)

    def add_line(self, sku: str, quantity: int, price: float) -> None:
        self.lines.append((sku, quantity, price))

    def total(self) -> float:
        subtotal = sum(quantity * price for _, quantity, price in self.lines)
        return round(subtotal * (1 + TAX_RATE), 2)
''',
    "shop/pricing.py": '''"""Discounts and coupons."""

from .models import TAX_RATE, Order

COUPONS = {"WELCOME": 0.1, "LOYAL": 0.15}


def discount_for(order: Order) -> float:
    """Volume discount: 5% above ten lines."""
    return 0.05 * order.total() if len(order.lines) > 10 else 0.0


def apply_coupon(order: Order, code: str) -> float:
    rate = COUPONS.get(code.upper(), 0.0)
    return round(order.total() * rate / (1 + TAX_RATE), 2)
''',
    "shop/utils.py": '''"""Formatting helpers."""

registry = {"default": "EUR"}


def slugify(text: str) -> str:
    return "-".join(text.lower().split())


def format_money(amount: float, currency: str = "EUR") -> str:
    return f"{amount:.2f} {currency}"
''',
    "shop/api.py": '''"""The checkout flow."""

from . import utils
from .models import Customer, Order, OrderError
from .pricing import apply_coupon, discount_for


class Checkout:
    def __init__(self, customer: Customer) -> None:
        self.order = Order(customer)

    def add(self, sku: str, quantity: int, price: float) -> None:
        self.order.add_line(sku, quantity, price)

    def receipt(self, coupon: str | None = None) -> str:
        total = self.order.total() - discount_for(self.order)
        if coupon:
            total -= apply_coupon(self.order, coupon)
        return utils.format_money(total)


def place_order(customer: Customer, items: list[tuple[str, int, float]]) -> str:
    if not items:
        raise OrderError("an order needs at least one line")
    checkout = Checkout(customer)
    for sku, quantity, price in items:
        checkout.add(sku, quantity, price)
    return checkout.receipt()
''',
    "web/money.ts": """export const CURRENCY = "EUR";

export function formatMoney(amount: number): string {
  return `${amount.toFixed(2)} ${CURRENCY}`;
}

export class Cart {
  items: number[] = [];

  add(price: number): void {
    this.items.push(price);
  }

  total(): number {
    return this.items.reduce((a, b) => a + b, 0);
  }
}
""",
    "web/legacy.js": """function oldTotal(items) {
  return items.reduce((a, b) => a + b, 0);
}

module.exports = { oldTotal };
""",
    "web/app.ts": """import { Cart, formatMoney } from "./money";
import * as money from "./money";
const legacy = require("./legacy");

export function checkout(prices: number[]): string {
  const cart = new Cart();
  for (const price of prices) {
    cart.add(price);
  }
  return formatMoney(cart.total());
}
""",
}


def write_sample_workspace(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def position(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """0-based (line, col) of the first occurrence of ``needle`` (plus ``offset`` characters)."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)


def insert_at(text: str, needle: str, insertion: str) -> tuple[str, int, int]:
    """``text`` with ``insertion`` typed just before ``needle``; the cursor (line, col) after it."""
    index = text.index(needle)
    new_text = text[:index] + insertion + text[index:]
    line, col = position(new_text, insertion + needle, len(insertion))
    return new_text, line, col
