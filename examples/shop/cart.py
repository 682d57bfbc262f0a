"""A shopping cart."""

from dataclasses import dataclass, field


@dataclass
class LineItem:
    sku: str
    unit_price: float
    quantity: int = 1


@dataclass
class Cart:
    items: list[LineItem] = field(default_factory=list)

    def add(self, sku: str, unit_price: float, quantity: int = 1) -> None:
        self.items.append(LineItem(sku, unit_price, quantity))

    def subtotal(self) -> float:
        return sum(item.unit_price * item.quantity for item in self.items)
