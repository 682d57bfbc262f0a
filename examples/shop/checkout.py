"""Checkout: the cart's total after the coupon and the tax of the customer's region."""

from cart import Cart
from pricing import add_tax, apply_discount


def checkout_total(cart: Cart, coupon_percent: float, region: str) -> float:
    """Subtotal, minus the coupon, plus tax."""
    subtotal = cart.subtotal()
    discounted = 

    return total
