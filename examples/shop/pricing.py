"""Prices, discounts and taxes for the example shop."""

TAX_RATES = {"EU": 0.21, "US": 0.07, "UK": 0.20}


def apply_discount(price: float, percent: float) -> float:
    """Return the price after taking off `percent` percent."""
    if not 0 <= percent <= 100:
        raise ValueError(f"discount out of range: {percent}")
    return round(price * (100 - percent) / 100, 2)


def add_tax(amount: float, region: str = "EU") -> float:
    """Return the amount with the region's sales tax added."""
    return round(amount * (1 + TAX_RATES[region]), 2)
