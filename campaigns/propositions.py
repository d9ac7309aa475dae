"""The product/proposition matrix: what to offer a customer after what they bought."""

from typing import Any

from events.models import Event
from events.spec import ORDER_COMPLETED
from profiles.models import Profile

from .models import Proposition, PropositionRule


def _bought(products: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    ids = {str(p.get("product_id") or p.get("sku") or "") for p in products} - {""}
    categories = {str(p.get("category") or "") for p in products} - {""}
    return ids, categories


def _order_products(properties: dict[str, Any]) -> list[dict[str, Any]]:
    products = properties.get("products")
    return [p for p in products if isinstance(p, dict)] if isinstance(products, list) else []


def propositions_for(profile: Profile, *, order: dict[str, Any] | None = None) -> list[Proposition]:
    """Propositions for what this order (or, without one, everything the customer bought)
    contained, best first, leaving out what the customer already bought; the fallback
    when nothing fits."""
    history: list[dict[str, Any]] = []
    for properties in Event.objects.filter(profile=profile, name=ORDER_COMPLETED).values_list(
        "properties", flat=True
    ):
        history.extend(_order_products(properties))
    owned_ids, owned_categories = _bought(history)
    basis_ids, basis_categories = _bought(_order_products(order) if order else history)
    rules = (
        PropositionRule.objects.filter(proposition__active=True)
        .select_related("proposition")
        .order_by("-priority", "id")
    )
    chosen: list[Proposition] = []
    for rule in rules:
        if not (
            (rule.product_id and rule.product_id in basis_ids)
            or (rule.category and rule.category in basis_categories)
        ):
            continue
        offer = rule.proposition
        if offer.offers_product_id and offer.offers_product_id in owned_ids:
            continue
        if offer.offers_category and offer.offers_category in owned_categories:
            continue
        if offer not in chosen:
            chosen.append(offer)
    if not chosen:
        fallback = Proposition.objects.filter(active=True, is_default=True).first()
        if fallback:
            chosen.append(fallback)
    return chosen
