"""Order routing: pick the supplier for every order line by rules staff can read and edit.

Implements ../shared/conformance/ROUTING.md exactly. Pure (standard library only): money is
Decimal, every decision comes back as data with a trace saying why each supplier was passed
over, which rules fired and which key separated the chosen plan from the runner-up.

The plan search is exact. Suppliers that can never form a feasible shipment (no service, too
slow, overweight, unable to reach their minimum order value) are dropped first. Lines are then
assigned one at a time, most constrained first, in a branch-and-bound: a node's lower bound
prices every open shipment at its fixed cost plus a linear cost per line, and every unassigned
line by a dual of the facility-location relaxation (Erlenkotter's dual ascent), plus what short
shipments must add to reach their minimum order value. fewest_shipments is solved level by
level (1, 2, … shipments) and fastest by delivery days first (D, then shipments), so the first
level holding a feasible plan is the answer's, and every plan of that level has exactly its
shipment count (and delivery days): the bound starts from those, so cost prunes from the root.
The two best plans are kept, so the trace can say what beat the runner-up; neighbours of each
new best are priced to find it early, and a complete plan already behind the runner-up (its
unpriced shipments at their floor) is not priced at all. Plans are compared by exact figures
per shipment (effective cents, delivery days, priority); Shipment objects are built for the
chosen plan only. Orders with few assignments (most of 1–3 lines) are priced one by one
instead of bounded. A step budget guards against inputs that defeat the bounds: when it runs
out the best plan found is returned with ``optimal`` false.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from types import MappingProxyType
from typing import Any

CENTS = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)
# The precision shipments are priced at (price_shipment): effective cost divides by (100 + tol).
_PRICING_PRECISION = 60

OBJECTIVES = ("fewest_shipments", "lowest_cost", "fastest")
DEFAULT_OBJECTIVE = "fewest_shipments"
SPEEDS = ("standard", "express")
SUPPLIER_STATUSES = ("active", "paused")
HEALTH_STATES = ("up", "degraded", "down")
DEFAULT_SUPPLIER_PRIORITY = 100
# Search steps (see _Budget) before the search settles for the best plan found so far: a
# 20-line order over 50 suppliers typically needs 10^4–10^5; this stops inputs that defeat the
# bounds (dense catalogues full of minimum order values, look-alike suppliers) in about a second.
DEFAULT_SEARCH_BUDGET = 2_000_000
# Orders with at most this many assignments of lines to suppliers are priced one by one.
_ENUMERATION_LIMIT = 192
# When the budget runs out before any plan was found, this many more steps look for any plan.
FALLBACK_SEARCH_BUDGET = 200_000
# Rounds of dual ascent per search node; it usually settles in a handful.
_DUAL_ASCENT_PASSES = 30
# Budget steps charged, besides one per candidate looked at while bounding, for the dearer
# operations: visiting a node, trying a line on a supplier, pricing a shipment exactly.
_NODE_STEPS = 20
_ASSIGN_STEPS = 5
_QUOTE_STEPS = 100

WHEN_KEYS = ("channel", "country", "region", "service", "min_order_value", "max_order_value", "sku")
THEN_KEYS = (
    "exclude", "only", "prefer", "prefer_tolerance_pct", "objective",
    "max_shipments", "max_delivery_days", "require_domestic",
)
# Actions where the first matching rule that sets them wins (exclude/only combine instead).
FIRST_WINS_ACTIONS = ("prefer", "objective", "max_shipments", "max_delivery_days", "require_domestic")
LINE_SCOPED_ACTIONS = ("exclude", "only")


class ReviewReason(StrEnum):
    """Why an order goes to a person instead of a supplier (ROUTING.md, in checking order)."""

    UNKNOWN_SKU = "unknown_sku"
    NO_ELIGIBLE_SUPPLIER = "no_eligible_supplier"
    BELOW_MOQ = "below_moq"
    OUT_OF_STOCK = "out_of_stock"
    NO_FEASIBLE_PLAN = "no_feasible_plan"


class PassedOver(StrEnum):
    """Why a supplier that offers a line's SKU did not get the line."""

    STATUS = "status"
    HEALTH = "health"
    NOT_SHIPPING_THERE = "not_shipping_there"
    EXCLUDED_BY_RULE = "excluded_by_rule"
    NOT_IN_ONLY = "not_in_only"
    NOT_DOMESTIC = "not_domestic"
    BELOW_MOQ = "below_moq"
    OUT_OF_STOCK = "out_of_stock"
    NO_SERVICE = "no_service"
    TOO_SLOW = "too_slow"
    OVERWEIGHT = "overweight"
    MIN_ORDER_VALUE = "min_order_value"
    NOT_CHOSEN = "not_chosen"


# Reasons that make a supplier not eligible at all, before quantity and stock are looked at.
_NOT_ALLOWED = frozenset({
    PassedOver.STATUS, PassedOver.HEALTH, PassedOver.NOT_SHIPPING_THERE,
    PassedOver.EXCLUDED_BY_RULE, PassedOver.NOT_IN_ONLY, PassedOver.NOT_DOMESTIC,
})


def money(value: Decimal) -> Decimal:
    """Round to cents, half up, as every money figure in a plan is."""
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A service's price and transit time to one country."""

    base: Decimal
    per_kg: Decimal
    transit_days: int


@dataclass(frozen=True)
class Service:
    """A carrier service a supplier ships with; rates are (country, Rate) pairs."""

    carrier: str
    service: str
    speed: str
    rates: tuple[tuple[str, Rate], ...]
    max_kg: Decimal | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rates, Mapping):
            object.__setattr__(self, "rates", tuple(sorted(self.rates.items())))

    def rate_to(self, country: str) -> Rate | None:
        """The rate to a country, or None when the service does not go there."""
        for rate_country, rate in self.rates:
            if rate_country == country:
                return rate
        return None


@dataclass(frozen=True)
class Surcharge:
    """A per-shipment charge for shipping to a country, or to one region of it."""

    country: str
    amount: Decimal
    region: str | None = None

    def applies_to(self, ship_to: ShipTo) -> bool:
        """True when the ship-to is in this surcharge's country (and region, if it names one)."""
        if self.country != ship_to.country:
            return False
        return self.region is None or self.region == ship_to.region


@dataclass(frozen=True)
class Offer:
    """A supplier's sellable stock of one SKU; `available` is net of reservations."""

    sku: str
    cost: Decimal
    available: int
    moq: int = 1
    weight_kg: Decimal = ZERO


@dataclass(frozen=True)
class Supplier:
    """A supplier as routing sees it: where it ships from and to, how, and what it has."""

    code: str
    warehouse_country: str
    ships_to: frozenset[str]
    services: tuple[Service, ...]
    offers: tuple[Offer, ...]
    status: str = "active"
    health: str = "up"
    priority: int = DEFAULT_SUPPLIER_PRIORITY
    lead_time_days: int = 0
    order_fee: Decimal = ZERO
    fee_pct: Decimal = ZERO
    min_order_value: Decimal = ZERO
    surcharges: tuple[Surcharge, ...] = ()
    _offer_by_sku: Mapping[str, Offer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ships_to", frozenset(self.ships_to))
        object.__setattr__(self, "services", tuple(self.services))
        object.__setattr__(self, "offers", tuple(self.offers))
        object.__setattr__(self, "surcharges", tuple(self.surcharges))
        by_sku: dict[str, Offer] = {}
        for offer in self.offers:
            if offer.sku in by_sku:
                raise ValueError(f"supplier {self.code}: two offers for SKU {offer.sku}")
            by_sku[offer.sku] = offer
        object.__setattr__(self, "_offer_by_sku", MappingProxyType(by_sku))

    def offer_for(self, sku: str) -> Offer | None:
        """This supplier's offer for a SKU, if it has one."""
        return self._offer_by_sku.get(sku)


@dataclass(frozen=True)
class RuleConditions:
    """A rule's `when`: every condition set must hold; None means not set."""

    channel: tuple[str, ...] | None = None
    country: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    service: tuple[str, ...] | None = None
    min_order_value: Decimal | None = None
    max_order_value: Decimal | None = None
    sku: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RuleActions:
    """A rule's `then`; None means the rule does not set that action."""

    exclude: tuple[str, ...] | None = None
    only: tuple[str, ...] | None = None
    prefer: tuple[str, ...] | None = None
    prefer_tolerance_pct: Decimal = ZERO
    objective: str | None = None
    max_shipments: int | None = None
    max_delivery_days: int | None = None
    require_domestic: bool | None = None

    def sets(self, action: str) -> bool:
        """True when this rule sets the action."""
        return getattr(self, action) is not None


@dataclass(frozen=True)
class Rule:
    """A routing rule; applied in ascending priority, ties in list order."""

    name: str
    priority: int = 0
    enabled: bool = True
    when: RuleConditions = field(default_factory=RuleConditions)
    then: RuleActions = field(default_factory=RuleActions)

    @property
    def line_scoped(self) -> bool:
        """A rule with `when.sku` excludes or restricts suppliers for those lines only."""
        return self.when.sku is not None


@dataclass(frozen=True)
class ShipTo:
    """Where the order goes."""

    country: str
    region: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One SKU of an order; no SKU appears on two lines."""

    sku: str
    qty: int
    price: Decimal


@dataclass(frozen=True)
class Order:
    """An order as routing sees it; `service` is the level the customer chose."""

    id: str
    channel: str | None
    ship_to: ShipTo
    lines: tuple[OrderLine, ...]
    service: str = "standard"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def value(self) -> Decimal:
        """Σ price × qty, what order-value conditions compare."""
        return sum((line.price * line.qty for line in self.lines), ZERO)


@dataclass(frozen=True)
class Scenario:
    """A scenario file's inputs: suppliers, rules and the order to route."""

    name: str | None
    suppliers: tuple[Supplier, ...]
    rules: tuple[Rule, ...]
    order: Order


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentLine:
    """An order line inside a shipment."""

    sku: str
    qty: int


@dataclass(frozen=True)
class Shipment:
    """What one supplier sends, by which service, and what it costs us."""

    supplier: str
    carrier: str
    service: str
    lines: tuple[ShipmentLine, ...]
    goods: Decimal
    shipping: Decimal
    fees: Decimal
    surcharges: Decimal
    landed_cost: Decimal
    effective_cost: Decimal
    delivery_days: int
    weight_kg: Decimal

    def to_dict(self) -> dict[str, Any]:
        """The shipment as ROUTING.md prints it."""
        return {
            "supplier": self.supplier,
            "carrier": self.carrier,
            "service": self.service,
            "lines": [{"sku": line.sku, "qty": line.qty} for line in self.lines],
            "goods": float(self.goods),
            "shipping": float(self.shipping),
            "fees": float(self.fees),
            "surcharges": float(self.surcharges),
            "landed_cost": float(self.landed_cost),
            "delivery_days": self.delivery_days,
        }


@dataclass(frozen=True)
class Plan:
    """Every line assigned: one shipment per supplier, sorted by supplier code."""

    objective: str
    shipments: tuple[Shipment, ...]

    @property
    def landed_cost(self) -> Decimal:
        """The real cost of the whole order (not the preference-adjusted one)."""
        return sum((s.landed_cost for s in self.shipments), ZERO)

    @property
    def effective_cost(self) -> Decimal:
        """The cost plans are compared at: preferred suppliers' shipments discounted."""
        return sum((s.effective_cost for s in self.shipments), ZERO)

    @property
    def delivery_days(self) -> int:
        """When the last shipment arrives."""
        return max(s.delivery_days for s in self.shipments)


@dataclass(frozen=True)
class TraceEntry:
    """One explained step of a decision; `message` is for people, the rest for filtering."""

    kind: str  # rule, policy, candidate, search, plan
    message: str
    line: int | None = None  # 1-based order line number
    sku: str | None = None
    supplier: str | None = None
    reason: str | None = None
    value: str | None = None  # the failing value behind `reason`


@dataclass(frozen=True)
class Decision:
    """The routing decision for one order: a plan, or the reason a person must route it."""

    status: str  # routed | manual_review
    objective: str
    plan: Plan | None
    reason: str | None
    optimal: bool
    trace: tuple[TraceEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        """The decision as ROUTING.md's output section prints it, plus `optimal`."""
        trace = [entry.message for entry in self.trace]
        if self.plan is None:
            return {"status": self.status, "reason": self.reason, "optimal": self.optimal, "trace": trace}
        return {
            "status": self.status,
            "objective": self.objective,
            "shipments": [shipment.to_dict() for shipment in self.plan.shipments],
            "landed_cost": float(self.plan.landed_cost),
            "delivery_days": self.plan.delivery_days,
            "optimal": self.optimal,
            "trace": trace,
        }


# ---------------------------------------------------------------------------------------------
# Scenario parsing
# ---------------------------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def simulate_scenario(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Route a scenario dict and return the printable plan; ValueError for bad input."""
    parsed = parse_scenario(scenario)
    return route_order(parsed.suppliers, parsed.rules, parsed.order).to_dict()


def parse_scenario(scenario: Mapping[str, Any]) -> Scenario:
    """Build the routing inputs from a scenario dict; a ValueError names the bad field."""
    _expect_mapping(scenario, "scenario")
    suppliers = tuple(
        _parse_supplier(raw, f"suppliers[{i}]")
        for i, raw in enumerate(_expect_list(scenario.get("suppliers"), "suppliers"))
    )
    seen: set[str] = set()
    for supplier in suppliers:
        if supplier.code in seen:
            raise ValueError(f"suppliers: code {supplier.code!r} appears twice")
        seen.add(supplier.code)
    raw_rules = scenario.get("rules")
    rules = tuple(
        _parse_rule(raw, f"rules[{i}]")
        for i, raw in enumerate(_expect_list([] if raw_rules is None else raw_rules, "rules"))
    )
    order = _parse_order(scenario.get("order"), "order")
    name = scenario.get("name")
    return Scenario(name=None if name is None else str(name), suppliers=suppliers, rules=rules, order=order)


def _parse_supplier(raw: Any, where: str) -> Supplier:
    _expect_mapping(raw, where)
    code = _text(raw.get("code"), f"{where}.code")
    where = f"{where} ({code})"
    services = tuple(
        _parse_service(item, f"{where}.services[{i}]")
        for i, item in enumerate(_expect_list(raw.get("services"), f"{where}.services"))
    )
    offers = tuple(
        _parse_offer(item, f"{where}.offers[{i}]")
        for i, item in enumerate(_expect_list(raw.get("offers"), f"{where}.offers"))
    )
    skus = [offer.sku for offer in offers]
    duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
    if duplicates:
        raise ValueError(f"{where}.offers: SKU {duplicates[0]!r} is offered twice")
    surcharges = tuple(
        _parse_surcharge(item, f"{where}.surcharges[{i}]")
        for i, item in enumerate(_expect_list(_or(raw.get("surcharges"), []), f"{where}.surcharges"))
    )
    return Supplier(
        code=code,
        status=_choice(_or(raw.get("status"), "active"), SUPPLIER_STATUSES, f"{where}.status"),
        health=_choice(_or(raw.get("health"), "up"), HEALTH_STATES, f"{where}.health"),
        priority=_integer(_or(raw.get("priority"), DEFAULT_SUPPLIER_PRIORITY), f"{where}.priority"),
        warehouse_country=_text(raw.get("warehouse_country"), f"{where}.warehouse_country"),
        ships_to=frozenset(_text_list(raw.get("ships_to"), f"{where}.ships_to")),
        lead_time_days=_integer(_or(raw.get("lead_time_days"), 0), f"{where}.lead_time_days", minimum=0),
        order_fee=_decimal(_or(raw.get("order_fee"), 0), f"{where}.order_fee", minimum=ZERO),
        fee_pct=_decimal(_or(raw.get("fee_pct"), 0), f"{where}.fee_pct", minimum=ZERO),
        min_order_value=_decimal(_or(raw.get("min_order_value"), 0), f"{where}.min_order_value", minimum=ZERO),
        services=services,
        surcharges=surcharges,
        offers=offers,
    )


def _parse_service(raw: Any, where: str) -> Service:
    _expect_mapping(raw, where)
    rates_raw = raw.get("rates")
    _expect_mapping(rates_raw, f"{where}.rates")
    rates = []
    for country, rate in rates_raw.items():
        at = f"{where}.rates.{country}"
        _expect_mapping(rate, at)
        rates.append((_text(country, f"{where}.rates key"), Rate(
            base=_decimal(rate.get("base"), f"{at}.base", minimum=ZERO),
            per_kg=_decimal(rate.get("per_kg"), f"{at}.per_kg", minimum=ZERO),
            transit_days=_integer(rate.get("transit_days"), f"{at}.transit_days", minimum=0),
        )))
    max_kg = raw.get("max_kg")
    return Service(
        carrier=_text(raw.get("carrier"), f"{where}.carrier"),
        service=_text(raw.get("service"), f"{where}.service"),
        speed=_choice(raw.get("speed"), SPEEDS, f"{where}.speed"),
        rates=tuple(sorted(rates)),
        max_kg=None if max_kg is None else _decimal(max_kg, f"{where}.max_kg", minimum=ZERO),
    )


def _parse_surcharge(raw: Any, where: str) -> Surcharge:
    _expect_mapping(raw, where)
    region = raw.get("region")
    return Surcharge(
        country=_text(raw.get("country"), f"{where}.country"),
        region=None if region is None else _text(region, f"{where}.region"),
        amount=_decimal(raw.get("amount"), f"{where}.amount", minimum=ZERO),
    )


def _parse_offer(raw: Any, where: str) -> Offer:
    _expect_mapping(raw, where)
    return Offer(
        sku=_text(raw.get("sku"), f"{where}.sku"),
        cost=_decimal(raw.get("cost"), f"{where}.cost", minimum=ZERO),
        available=_integer(raw.get("available"), f"{where}.available"),
        moq=_integer(_or(raw.get("moq"), 1), f"{where}.moq", minimum=0),
        weight_kg=_decimal(_or(raw.get("weight_kg"), 0), f"{where}.weight_kg", minimum=ZERO),
    )


def _parse_rule(raw: Any, where: str) -> Rule:
    _expect_mapping(raw, where)
    name = _text(_or(raw.get("name"), where), f"{where}.name")
    where = f"{where} ({name!r})"
    when = _or(raw.get("when"), {})
    then = _or(raw.get("then"), {})
    _expect_mapping(when, f"{where}.when")
    _expect_mapping(then, f"{where}.then")
    for key in when:
        if key not in WHEN_KEYS:
            raise ValueError(f"{where}.when.{key}: unknown condition (known: {', '.join(WHEN_KEYS)})")
    for key in then:
        if key not in THEN_KEYS:
            raise ValueError(f"{where}.then.{key}: unknown action (known: {', '.join(THEN_KEYS)})")

    def texts(mapping: Mapping[str, Any], key: str, at: str) -> tuple[str, ...] | None:
        value = mapping.get(key)
        return None if value is None else _text_list(value, f"{at}.{key}")

    def number(mapping: Mapping[str, Any], key: str, at: str) -> Decimal | None:
        value = mapping.get(key)
        return None if value is None else _decimal(value, f"{at}.{key}", minimum=ZERO)

    def whole(mapping: Mapping[str, Any], key: str, at: str) -> int | None:
        value = mapping.get(key)
        return None if value is None else _integer(value, f"{at}.{key}", minimum=0)

    conditions = RuleConditions(
        channel=texts(when, "channel", f"{where}.when"),
        country=texts(when, "country", f"{where}.when"),
        region=texts(when, "region", f"{where}.when"),
        service=texts(when, "service", f"{where}.when"),
        min_order_value=number(when, "min_order_value", f"{where}.when"),
        max_order_value=number(when, "max_order_value", f"{where}.when"),
        sku=texts(when, "sku", f"{where}.when"),
    )
    objective = then.get("objective")
    require_domestic = then.get("require_domestic")
    if require_domestic is not None and not isinstance(require_domestic, bool):
        raise ValueError(f"{where}.then.require_domestic: must be true or false, got {require_domestic!r}")
    actions = RuleActions(
        exclude=texts(then, "exclude", f"{where}.then"),
        only=texts(then, "only", f"{where}.then"),
        prefer=texts(then, "prefer", f"{where}.then"),
        prefer_tolerance_pct=number(then, "prefer_tolerance_pct", f"{where}.then") or ZERO,
        objective=None if objective is None else _choice(objective, OBJECTIVES, f"{where}.then.objective"),
        max_shipments=whole(then, "max_shipments", f"{where}.then"),
        max_delivery_days=whole(then, "max_delivery_days", f"{where}.then"),
        require_domestic=require_domestic,
    )
    if conditions.sku is not None:
        extra = [a for a in THEN_KEYS if a not in LINE_SCOPED_ACTIONS and then.get(a) is not None]
        if extra:
            raise ValueError(
                f"{where}: a rule with when.sku may only exclude or only suppliers, not {', '.join(extra)}"
            )
    enabled = _or(raw.get("enabled"), True)
    if not isinstance(enabled, bool):
        raise ValueError(f"{where}.enabled: must be true or false, got {enabled!r}")  # noqa: TRY004
    return Rule(
        name=name,
        priority=_integer(_or(raw.get("priority"), 0), f"{where}.priority"),
        enabled=enabled,
        when=conditions,
        then=actions,
    )


def _parse_order(raw: Any, where: str) -> Order:
    _expect_mapping(raw, where)
    order_id = raw.get("id")
    if order_id is None or isinstance(order_id, bool) or not isinstance(order_id, (str, int)):
        raise ValueError(f"{where}.id: required (text or whole number), got {order_id!r}")
    ship_to = raw.get("ship_to")
    _expect_mapping(ship_to, f"{where}.ship_to")
    region = ship_to.get("region")
    channel = raw.get("channel")
    lines = tuple(
        _parse_order_line(item, f"{where}.lines[{i}]")
        for i, item in enumerate(_expect_list(raw.get("lines"), f"{where}.lines"))
    )
    if not lines:
        raise ValueError(f"{where}.lines: an order needs at least one line")
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise ValueError(f"{where}.lines: SKU {line.sku!r} is on two lines (intake merges them first)")
        seen.add(line.sku)
    return Order(
        id=str(order_id),
        channel=None if channel is None else _text(channel, f"{where}.channel"),
        service=_choice(_or(raw.get("service"), "standard"), SPEEDS, f"{where}.service"),
        ship_to=ShipTo(
            country=_text(ship_to.get("country"), f"{where}.ship_to.country"),
            region=None if region is None else _text(region, f"{where}.ship_to.region"),
        ),
        lines=lines,
    )


def _parse_order_line(raw: Any, where: str) -> OrderLine:
    _expect_mapping(raw, where)
    return OrderLine(
        sku=_text(raw.get("sku"), f"{where}.sku"),
        qty=_integer(raw.get("qty"), f"{where}.qty", minimum=1),
        price=_decimal(raw.get("price"), f"{where}.price", minimum=ZERO),
    )


def _or(value: Any, default: Any) -> Any:
    """A missing or null field takes its default."""
    return default if value is None else value


# Bad scenario input is a ValueError whatever its kind, so callers catch one exception.
def _expect_mapping(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be an object, got {_shown(value)}")  # noqa: TRY004


def _expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: must be a list, got {_shown(value)}")  # noqa: TRY004
    return list(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: must be non-empty text, got {_shown(value)}")
    return value


def _text_list(value: Any, where: str) -> tuple[str, ...]:
    items = _expect_list(value, where)
    return tuple(_text(item, f"{where}[{i}]") for i, item in enumerate(items))


def _choice(value: Any, allowed: Sequence[str], where: str) -> str:
    if value not in allowed:
        raise ValueError(f"{where}: must be one of {', '.join(allowed)}, got {_shown(value)}")
    return value


def _decimal(value: Any, where: str, minimum: Decimal | None = None) -> Decimal:
    number: Decimal | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, Decimal):  # JSON read with parse_float=Decimal, as the CLI does
        number = value if value.is_finite() else None
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = Decimal(repr(value))  # the shortest text for the float: 13.333, not 13.3329999…
    elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
    if number is None:
        raise ValueError(f"{where}: must be a number, got {_shown(value)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{where}: must be at least {minimum}, got {_shown(value)}")
    return number


def _integer(value: Any, where: str, minimum: int | None = None) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    ):
        number = int(value)
    if number is None:
        raise ValueError(f"{where}: must be a whole number, got {_shown(value)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{where}: must be at least {minimum}, got {_shown(value)}")
    return number


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------
# Rules → policy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingPolicy:
    """What the matching rules decided for the whole order; `decided_by` names each rule."""

    objective: str = DEFAULT_OBJECTIVE
    preferred: frozenset[str] = frozenset()
    prefer_tolerance_pct: Decimal = ZERO
    max_shipments: int | None = None
    max_delivery_days: int | None = None
    require_domestic: bool = False
    decided_by: tuple[tuple[str, str], ...] = ()

    def rule_for(self, action: str) -> str | None:
        """The name of the rule that set an action, if one did."""
        return dict(self.decided_by).get(action)


@dataclass(frozen=True)
class LineScope:
    """Which suppliers the rules keep off one line: excluded (code → rule) and only-lists."""

    excluded: Mapping[str, str]
    only: tuple[tuple[str, frozenset[str]], ...]


def resolve_rules(
    rules: Iterable[Rule], order: Order
) -> tuple[RoutingPolicy, tuple[LineScope, ...], tuple[TraceEntry, ...]]:
    """Apply the rules to an order: the order-wide policy, each line's scope, and the trace."""
    trace: list[TraceEntry] = []
    decided: dict[str, Rule] = {}
    order_excluded: dict[str, str] = {}
    order_only: list[tuple[str, frozenset[str]]] = []
    line_excluded: list[dict[str, str]] = [{} for _ in order.lines]
    line_only: list[list[tuple[str, frozenset[str]]]] = [[] for _ in order.lines]

    order_value = order.value
    # sorted() is stable, so rules of equal priority keep their list order.
    for rule in sorted(rules, key=lambda r: r.priority):
        label = f"rule {rule.name!r} (priority {rule.priority})"
        if not rule.enabled:
            trace.append(TraceEntry("rule", f"{label} is disabled: ignored"))
            continue
        unmet = _unmet_condition(rule.when, order, order_value)
        if unmet is not None:
            trace.append(TraceEntry("rule", f"{label} did not match: {unmet}", value=unmet))
            continue
        if rule.line_scoped:
            skus_in_scope = set(rule.when.sku or ())
            in_scope = [i for i, line in enumerate(order.lines) if line.sku in skus_in_scope]
            if not in_scope:
                message = f"{label} did not match: no line has SKU {_listed(rule.when.sku or ())}"
                trace.append(TraceEntry("rule", message))
                continue
            for i in in_scope:
                for code in rule.then.exclude or ():
                    line_excluded[i].setdefault(code, rule.name)
                if rule.then.only is not None:
                    line_only[i].append((rule.name, frozenset(rule.then.only)))
            skus = ", ".join(order.lines[i].sku for i in in_scope)
            trace.append(TraceEntry("rule", f"{label} fired for {skus}: {_describe_actions(rule.then)}"))
            continue
        for code in rule.then.exclude or ():
            order_excluded.setdefault(code, rule.name)
        if rule.then.only is not None:
            order_only.append((rule.name, frozenset(rule.then.only)))
        overruled = []
        for action in FIRST_WINS_ACTIONS:
            if rule.then.sets(action):
                if action in decided:
                    overruled.append(f"{action} (rule {decided[action].name!r} set it first)")
                else:
                    decided[action] = rule
        message = f"{label} fired: {_describe_actions(rule.then)}"
        if overruled:
            message += "; ignored " + ", ".join(overruled)
        trace.append(TraceEntry("rule", message))

    def chosen(action: str, default: Any) -> Any:
        return getattr(decided[action].then, action) if action in decided else default

    prefer_rule = decided.get("prefer")
    policy = RoutingPolicy(
        objective=chosen("objective", DEFAULT_OBJECTIVE),
        preferred=frozenset(prefer_rule.then.prefer or ()) if prefer_rule else frozenset(),
        prefer_tolerance_pct=prefer_rule.then.prefer_tolerance_pct if prefer_rule else ZERO,
        max_shipments=chosen("max_shipments", None),
        max_delivery_days=chosen("max_delivery_days", None),
        require_domestic=chosen("require_domestic", False),
        decided_by=tuple((action, rule.name) for action, rule in decided.items()),
    )
    scopes = tuple(
        LineScope(
            excluded=MappingProxyType({**order_excluded, **{
                code: rule for code, rule in line_excluded[i].items() if code not in order_excluded
            }}),
            only=tuple(order_only) + tuple(line_only[i]),
        )
        for i in range(len(order.lines))
    )
    trace.append(TraceEntry("policy", _describe_policy(policy)))
    return policy, scopes, tuple(trace)


def _unmet_condition(when: RuleConditions, order: Order, order_value: Decimal | None = None) -> str | None:
    """The first condition of `when` the order fails, as text; None when all hold."""
    checks = (
        ("channel", order.channel),
        ("country", order.ship_to.country),
        ("region", order.ship_to.region),
        ("service", order.service),
    )
    for name, value in checks:
        allowed = getattr(when, name)
        if allowed is None:
            continue
        if not allowed:
            return f"{name} list is empty"
        if value is None:
            return f"order has no {name}"
        if value not in allowed:
            return f"{name} {value} not in {_listed(allowed)}"
    if when.sku is not None and not when.sku:
        return "sku list is empty"
    value = order.value if order_value is None else order_value
    if when.min_order_value is not None and value < when.min_order_value:
        return f"order value {money(value)} < {when.min_order_value}"
    if when.max_order_value is not None and value > when.max_order_value:
        return f"order value {money(value)} > {when.max_order_value}"
    return None


def _describe_actions(then: RuleActions) -> str:
    parts = []
    if then.exclude is not None:
        parts.append(f"exclude {_listed(then.exclude)}")
    if then.only is not None:
        parts.append(f"only {_listed(then.only)}")
    if then.prefer is not None:
        parts.append(f"prefer {_listed(then.prefer)} within {then.prefer_tolerance_pct}%")
    for action in ("objective", "max_shipments", "max_delivery_days", "require_domestic"):
        value = getattr(then, action)
        if value is not None:
            parts.append(f"{action} {str(value).lower() if isinstance(value, bool) else value}")
    return "; ".join(parts) or "no actions"


def _describe_policy(policy: RoutingPolicy) -> str:
    def source(action: str) -> str:
        rule = policy.rule_for(action)
        return f"rule {rule!r}" if rule else "default"

    parts = [f"objective {policy.objective} ({source('objective')})"]
    if policy.preferred:
        parts.append(
            f"prefer {_listed(sorted(policy.preferred))} within {policy.prefer_tolerance_pct}% ({source('prefer')})"
        )
    if policy.max_shipments is not None:
        parts.append(f"at most {policy.max_shipments} shipments ({source('max_shipments')})")
    if policy.max_delivery_days is not None:
        parts.append(f"delivery within {policy.max_delivery_days} days ({source('max_delivery_days')})")
    if policy.require_domestic:
        parts.append(f"domestic warehouses only ({source('require_domestic')})")
    return "policy: " + "; ".join(parts)


def _listed(items: Iterable[str]) -> str:
    return "[" + ", ".join(items) + "]"


# ---------------------------------------------------------------------------------------------
# Eligibility and shipment pricing
# ---------------------------------------------------------------------------------------------


def passed_over(
    supplier: Supplier, offer: Offer, line: OrderLine, order: Order, policy: RoutingPolicy, scope: LineScope
) -> tuple[PassedOver, str] | None:
    """Why a supplier offering the line's SKU may not take it (reason, failing value), or None."""
    country = order.ship_to.country
    if supplier.status != "active":
        return PassedOver.STATUS, f"status {supplier.status}"
    if supplier.health == "down":
        return PassedOver.HEALTH, "health down, circuit open"
    if country not in supplier.ships_to:
        return PassedOver.NOT_SHIPPING_THERE, f"ships to {_listed(sorted(supplier.ships_to))}, not {country}"
    if supplier.code in scope.excluded:
        return PassedOver.EXCLUDED_BY_RULE, f"rule {scope.excluded[supplier.code]!r}"
    for rule_name, allowed in scope.only:
        if supplier.code not in allowed:
            return PassedOver.NOT_IN_ONLY, f"rule {rule_name!r} allows only {_listed(sorted(allowed))}"
    if policy.require_domestic and supplier.warehouse_country != country:
        rule = policy.rule_for("require_domestic")
        return PassedOver.NOT_DOMESTIC, f"warehouse in {supplier.warehouse_country}, not {country} (rule {rule!r})"
    if line.qty < offer.moq:
        return PassedOver.BELOW_MOQ, f"qty {line.qty} < moq {offer.moq}"
    if offer.available < line.qty:
        return PassedOver.OUT_OF_STOCK, f"available {offer.available} < qty {line.qty}"
    return None


@dataclass(frozen=True)
class ServiceOption:
    """A service that may carry a supplier's shipment for this order, with its delivery days."""

    service: Service
    rate: Rate
    delivery_days: int


def service_options(
    supplier: Supplier, order: Order, policy: RoutingPolicy
) -> tuple[tuple[ServiceOption, ...], tuple[PassedOver, str] | None]:
    """The services that qualify before weight is known, or why none does."""
    country = order.ship_to.country
    express = order.service == "express"
    options = []
    for service in supplier.services:
        rate = service.rate_to(country)
        if rate is None or (express and service.speed != "express"):
            continue
        options.append(ServiceOption(service, rate, supplier.lead_time_days + rate.transit_days))
    if not options:
        speed = "express " if express else ""
        return (), (PassedOver.NO_SERVICE, f"no {speed}service with a rate to {country}")
    limit = policy.max_delivery_days
    if limit is not None:
        in_time = [option for option in options if option.delivery_days <= limit]
        if not in_time:
            fastest = min(option.delivery_days for option in options)
            rule = policy.rule_for("max_delivery_days")
            return (), (PassedOver.TOO_SLOW, f"fastest delivery {fastest} days > {limit} (rule {rule!r})")
        options = in_time
    return tuple(options), None


def surcharges_for(supplier: Supplier, ship_to: ShipTo) -> Decimal:
    """Σ of the supplier's surcharges that match the ship-to, per shipment."""
    return money(sum((s.amount for s in supplier.surcharges if s.applies_to(ship_to)), ZERO))


def price_shipment(
    supplier: Supplier,
    items: Sequence[tuple[OrderLine, Offer]],
    options: Sequence[ServiceOption],
    *,
    surcharges: Decimal,
    prefer_tolerance_pct: Decimal | None,
    fastest: bool,
) -> Shipment | None:
    """Price one supplier's shipment of these lines; None when no feasible shipment exists.

    `prefer_tolerance_pct` is None for a supplier that is not preferred.
    """
    with localcontext() as ctx:
        ctx.prec = _PRICING_PRECISION  # effective cost divides by (100 + tol); keep every digit until cents
        goods = money(sum((offer.cost * line.qty for line, offer in items), ZERO))
        if goods < supplier.min_order_value:
            return None
        weight = sum((offer.weight_kg * line.qty for line, offer in items), ZERO)
        chosen: tuple[tuple[Any, ...], ServiceOption, Decimal] | None = None
        for option in options:
            if option.service.max_kg is not None and weight > option.service.max_kg:
                continue
            shipping = money(option.rate.base + option.rate.per_kg * weight)
            names = (option.service.carrier, option.service.service)
            rank = (option.rate.transit_days, shipping, *names) if fastest else (shipping, option.rate.transit_days, *names)
            if chosen is None or rank < chosen[0]:
                chosen = (rank, option, shipping)
        if chosen is None:
            return None
        _, option, shipping = chosen
        fees = money(supplier.order_fee + goods * supplier.fee_pct / HUNDRED)
        landed = goods + shipping + fees + surcharges
        effective = landed
        if prefer_tolerance_pct is not None:
            effective = money(landed * HUNDRED / (HUNDRED + prefer_tolerance_pct))
    return Shipment(
        supplier=supplier.code,
        carrier=option.service.carrier,
        service=option.service.service,
        lines=tuple(ShipmentLine(line.sku, line.qty) for line, _ in items),
        goods=goods,
        shipping=shipping,
        fees=fees,
        surcharges=surcharges,
        landed_cost=landed,
        effective_cost=effective,
        delivery_days=option.delivery_days,
        weight_kg=weight,
    )


# ---------------------------------------------------------------------------------------------
# The plan search
# ---------------------------------------------------------------------------------------------

# Plan key components, named for the trace, in each objective's order (ROUTING.md).
KEY_NAMES = {
    "fewest_shipments": ("shipments", "effective cost", "delivery days", "priority sum",
                         "supplier codes", "supplier per line"),
    "lowest_cost": ("effective cost", "shipments", "delivery days", "priority sum",
                    "supplier codes", "supplier per line"),
    "fastest": ("delivery days", "shipments", "effective cost", "priority sum",
                "supplier codes", "supplier per line"),
}


def plan_key(
    objective: str, shipments: int, effective_cents: int, delivery_days: int, priority_sum: int,
    codes_sorted: tuple[str, ...], code_per_line: tuple[str, ...],
) -> tuple[Any, ...]:
    """The key plans are ranked by; the smallest wins."""
    if objective == "lowest_cost":
        head: tuple[int, ...] = (effective_cents, shipments, delivery_days, priority_sum)
    elif objective == "fastest":
        head = (delivery_days, shipments, effective_cents, priority_sum)
    else:
        head = (shipments, effective_cents, delivery_days, priority_sum)
    return (*head, codes_sorted, code_per_line)


class _BudgetExhausted(Exception):
    """The search budget ran out."""


class _FirstPlanFound(Exception):
    """A search asked for any feasible plan found one."""


class _Budget:
    """Search steps still allowed for one decision, shared by every level of its search.

    A step is roughly one candidate looked at while bounding a node; dearer operations cost
    more (_NODE_STEPS, _ASSIGN_STEPS, _QUOTE_STEPS). Counting steps, not seconds, caps the time
    whatever the shape of the order while the same input always stops at the same place.
    """

    def __init__(self, steps: int) -> None:
        self.size = steps
        self.left = steps
        self.used = 0
        self.nodes = 0

    def spend(self, steps: int) -> None:
        self.used += steps
        self.left -= steps
        if self.left < 0:
            raise _BudgetExhausted


@dataclass(frozen=True)
class _Quote:
    """A priced shipment plus the figures plan keys need."""

    shipment: Shipment
    effective_cents: int
    delivery_days: int
    priority: int


@dataclass(frozen=True)
class _Found:
    """A complete feasible plan met during the search: its key and supplier per line."""

    key: tuple[Any, ...]
    assignment: tuple[int, ...]


_UNPRICED = object()  # a shipment not priced yet (None means priced and infeasible)
_BEHIND_BAR: Any = ("behind the runner-up",)  # a plan whose key is certainly above the runner-up's: it cannot matter


class _RoutingProblem:
    """One order's routing: the eligible suppliers per line and exact shipment prices."""

    def __init__(
        self, suppliers: Sequence[Supplier], order: Order, policy: RoutingPolicy, eligible: Sequence[Sequence[int]]
    ) -> None:
        self.suppliers = suppliers  # sorted by code, so an index order is code order
        self.codes = tuple(s.code for s in suppliers)
        self.order = order
        self.policy = policy
        self.lines = order.lines
        self.eligible = eligible
        self.fastest = policy.objective == "fastest"
        used = sorted({s for cands in eligible for s in cands})
        self.options: dict[int, tuple[ServiceOption, ...]] = {}
        self.no_service: dict[int, tuple[PassedOver, str]] = {}
        self.surcharges: dict[int, Decimal] = {}
        self.tolerance: dict[int, Decimal | None] = {}
        for s in used:
            options, why_not = service_options(suppliers[s], order, policy)
            self.options[s] = options
            if why_not:
                self.no_service[s] = why_not
            self.surcharges[s] = surcharges_for(suppliers[s], order.ship_to)
            preferred = suppliers[s].code in policy.preferred
            self.tolerance[s] = policy.prefer_tolerance_pct if preferred else None
        self._quotes: dict[tuple[int, int], _Quote | None] = {}
        self._figures: dict[tuple[int, int], tuple[int, int, int] | None] = {}
        # Per supplier, the figures figures() prices with: each service as (max_kg, base, per_kg,
        # transit_days, delivery_days), and each line's goods and weight there (filled lazily).
        self._service_rows: dict[int, tuple[tuple[Decimal | None, Decimal, Decimal, int, int], ...]] = {}
        self._line_goods: dict[int, list[Decimal | None]] = {}
        self._line_weight: dict[int, list[Decimal | None]] = {}
        self._wide = Context(prec=_PRICING_PRECISION)
        self.budget: _Budget | None = None  # charged for every shipment priced during a search

    def offer(self, line: int, s: int) -> Offer:
        offer = self.suppliers[s].offer_for(self.lines[line].sku)
        assert offer is not None
        return offer

    def figures(self, s: int, lines_mask: int) -> tuple[int, int, int] | None:
        """(effective cents, delivery days, priority) of s's shipment of these lines; None when infeasible.

        Exactly what price_shipment gives (same decimals, same precision, same service choice:
        carrier and service names only break ties between services of equal price and transit
        days, which then deliver on the same day), without building the Shipment: the search
        compares plans by these figures alone and builds shipments for the chosen plan only.
        """
        key = (s, lines_mask)
        got = self._figures.get(key, _UNPRICED)
        if got is not _UNPRICED:
            return got  # type: ignore[return-value]
        if self.budget is not None:
            self.budget.spend(_QUOTE_STEPS)
        goods_of = self._line_goods.get(s)
        if goods_of is None:
            goods_of = self._line_goods[s] = [None] * len(self.lines)
            self._line_weight[s] = [None] * len(self.lines)
        weight_of = self._line_weight[s]
        wide = self._wide
        supplier = self.suppliers[s]
        goods = weight = ZERO
        mask = lines_mask
        while mask:
            low = mask & -mask
            line = low.bit_length() - 1
            mask ^= low
            line_goods = goods_of[line]
            if line_goods is None:
                offer = self.offer(line, s)
                qty = self.lines[line].qty
                line_goods = goods_of[line] = wide.multiply(offer.cost, qty)
                weight_of[line] = wide.multiply(offer.weight_kg, qty)
            goods = wide.add(goods, line_goods)
            weight = wide.add(weight, weight_of[line])
        goods = money(goods)
        result: tuple[int, int, int] | None = None
        if goods >= supplier.min_order_value:
            fastest = self.fastest
            chosen: tuple[tuple[Any, Any], Decimal, int] | None = None
            rows = self._service_rows.get(s)
            if rows is None:
                rows = self._service_rows[s] = tuple(
                    (o.service.max_kg, o.rate.base, o.rate.per_kg, o.rate.transit_days, o.delivery_days)
                    for o in self.options[s])
            for max_kg, base, per_kg, transit, days in rows:
                if max_kg is not None and weight > max_kg:
                    continue
                shipping = money(wide.add(base, wide.multiply(per_kg, weight)))
                rank = (transit, shipping) if fastest else (shipping, transit)
                if chosen is None or rank < chosen[0]:
                    chosen = (rank, shipping, days)
            if chosen is not None:
                fees = money(wide.add(supplier.order_fee, wide.divide(wide.multiply(goods, supplier.fee_pct), HUNDRED)))
                landed = wide.add(wide.add(goods, chosen[1]), wide.add(fees, self.surcharges[s]))
                tolerance = self.tolerance[s]
                if tolerance is not None:
                    landed = money(wide.divide(wide.multiply(landed, HUNDRED), wide.add(HUNDRED, tolerance)))
                result = (int(landed * 100), chosen[2], supplier.priority)
        self._figures[key] = result
        return result

    def quote(self, s: int, lines_mask: int) -> _Quote | None:
        """The exact shipment of these lines (a bitmask of line indices) by supplier s."""
        key = (s, lines_mask)
        if key not in self._quotes:
            items = [(self.lines[i], self.offer(i, s)) for i in _bits(lines_mask)]
            shipment = price_shipment(
                self.suppliers[s], items, self.options[s], surcharges=self.surcharges[s],
                prefer_tolerance_pct=self.tolerance[s], fastest=self.fastest,
            )
            self._quotes[key] = None if shipment is None else _Quote(
                shipment=shipment,
                effective_cents=int(shipment.effective_cost * 100),
                delivery_days=shipment.delivery_days,
                priority=self.suppliers[s].priority,
            )
        return self._quotes[key]

    def plan_key_of(
        self, assignment: Sequence[int], days_cap: int | None = None, bar: tuple[int, ...] | None = None
    ) -> tuple[Any, ...] | None:
        """The exact key of a complete assignment, or None when it is not a feasible plan.

        With a `bar` (a numeric key head), a plan whose head is above it comes back as
        _BEHIND_BAR instead, without building its key.
        """
        masks: dict[int, int] = {}
        for line, s in enumerate(assignment):
            masks[s] = masks.get(s, 0) | (1 << line)
        limit = self.policy.max_shipments
        if limit is not None and len(masks) > limit:
            return None
        cents = days = priority = 0
        known = self._figures
        for s, mask in masks.items():
            figures = known.get((s, mask), _UNPRICED)
            if figures is _UNPRICED:
                figures = self.figures(s, mask)
            if figures is None or (days_cap is not None and figures[1] > days_cap):  # type: ignore[index]
                return None
            cents += figures[0]  # type: ignore[index]
            if figures[1] > days:  # type: ignore[index]
                days = figures[1]  # type: ignore[index]
            priority += figures[2]  # type: ignore[index]
        if bar is not None:
            objective = self.policy.objective
            if objective == "lowest_cost":
                head: tuple[int, ...] = (cents, len(masks), days, priority)
            elif objective == "fastest":
                head = (days, len(masks), cents, priority)
            else:
                head = (len(masks), cents, days, priority)
            if head > bar:
                return _BEHIND_BAR
        return plan_key(
            self.policy.objective, len(masks), cents, days, priority,
            tuple(self.codes[s] for s in sorted(masks)), tuple(self.codes[s] for s in assignment),
        )


def _bits(mask: int) -> Iterable[int]:
    """Indices of the set bits of a mask, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class _SearchSpace:
    """Who may take which line when only services within `days_cap` days count (None: all).

    Holds the float data of the lower bound; exact money stays in _RoutingProblem.quote.
    """

    def __init__(self, problem: _RoutingProblem, days_cap: int | None, with_bounds: bool = True) -> None:
        self.problem = problem
        self.days_cap = days_cap
        n_lines = len(problem.lines)
        options = {
            s: [o for o in opts if days_cap is None or o.delivery_days <= days_cap]
            for s, opts in problem.options.items()
        }
        # Each pruned candidacy: (line, supplier, reason, failing value), for the trace.
        self.pruned: list[tuple[int, int, PassedOver, str]] = []
        cands: list[list[int]] = []
        for line in range(n_lines):
            kept = []
            for s in problem.eligible[line]:
                if not options[s]:
                    if days_cap is None:
                        reason, detail = problem.no_service[s]
                        self.pruned.append((line, s, reason, detail))
                    continue
                kept.append(s)
            cands.append(kept)

        self.cap_kg: dict[int, Decimal | None] = {}
        for s, opts in options.items():
            limits = [o.service.max_kg for o in opts]
            self.cap_kg[s] = None if not opts or None in limits else max(limits)  # type: ignore[type-var]
        self.line_weight: list[dict[int, Decimal]] = [{} for _ in range(n_lines)]
        self.line_cost: list[dict[int, Decimal]] = [{} for _ in range(n_lines)]
        for line in range(n_lines):
            qty = problem.lines[line].qty
            kept = []
            for s in cands[line]:
                offer = problem.offer(line, s)
                weight = offer.weight_kg * qty
                cap = self.cap_kg[s]
                if cap is not None and weight > cap:
                    self.pruned.append((line, s, PassedOver.OVERWEIGHT, f"line weighs {weight} kg > {cap} kg max"))
                    continue
                self.line_weight[line][s] = weight
                self.line_cost[line][s] = offer.cost * qty
                kept.append(s)
            cands[line] = kept

        # A supplier that cannot reach its minimum order value even with every line it may take
        # is out; dropping it can strand another, so repeat until nothing changes.
        suppliers = problem.suppliers
        dropped_for_mov = True
        while dropped_for_mov:
            dropped_for_mov = False
            reach: dict[int, Decimal] = {}
            for line in range(n_lines):
                for s in cands[line]:
                    reach[s] = reach.get(s, ZERO) + self.line_cost[line][s]
            for s in sorted(reach):
                minimum = suppliers[s].min_order_value
                if minimum > 0 and money(reach[s]) < minimum:
                    dropped_for_mov = True
                    for line in range(n_lines):
                        if s in cands[line]:
                            cands[line].remove(s)
                            detail = f"can reach {money(reach[s])} of goods at most < minimum {minimum}"
                            self.pruned.append((line, s, PassedOver.MIN_ORDER_VALUE, detail))

        self.blocked_line = next((line for line in range(n_lines) if not cands[line]), None)
        used = sorted({s for c in cands for s in c})
        self.suppliers = used
        self.kept = cands  # candidates per line that survived pruning, by supplier index
        self._options = options
        self.bounded = False
        if with_bounds:
            self.prepare_bounds()

    def prepare_bounds(self) -> None:
        """The float data of the lower bound; only a branch-and-bound needs it."""
        if self.bounded:
            return
        self.bounded = True
        problem = self.problem
        suppliers = problem.suppliers
        n_lines = len(problem.lines)
        used = self.suppliers
        cands = self.kept
        options = self._options
        self.mov = {s: suppliers[s].min_order_value for s in used}
        self.priority = {s: suppliers[s].priority for s in used}
        self.prio_nonnegative = all(p >= 0 for p in self.priority.values())
        self.negative_priority_total = sum(min(0, p) for p in self.priority.values())

        # Lower-bound data. A shipment's effective cost is at least
        #   f·(fixed + order_fee + surcharges) − slack + Σ_lines f·(cost·qty·(1 + fee%) + slope·weight)
        # where fixed + slope·weight is a line under the shipping price of every weight the
        # shipment can have (see _shipping_floor), and slack covers the half-cent roundings of
        # goods, shipping, fees and the effective cost.
        self.factor: dict[int, float] = {}
        self.min_days: dict[int, int] = {}
        self.x_zero: dict[int, float] = {}
        self.x_positive: dict[int, float] = {}
        slope: dict[int, float] = {}
        fee_share: dict[int, float] = {}
        self.slope: dict[int, float] = {}
        self.shipping_fixed: dict[int, float] = {}
        self.price_lines: dict[int, list[tuple[float, float, float, int]]] = {}
        self.caps: dict[int, list[float]] = {}
        self.other_fixed: dict[int, float] = {}
        self.slack: dict[int, float] = {}
        for s in used:
            supplier = suppliers[s]
            tolerance = problem.tolerance[s]
            f = 1.0 if tolerance is None else 100.0 / (100.0 + float(tolerance))
            p = float(supplier.fee_pct) / 100.0
            heaviest = sum((self.line_weight[line][s] for line in range(n_lines) if s in self.line_weight[line]), ZERO)
            if self.cap_kg[s] is not None:
                heaviest = min(heaviest, self.cap_kg[s])
            shipping_fixed, slope[s] = _shipping_floor(options[s], float(heaviest), problem.fastest)
            self.factor[s] = f
            fee_share[s] = p
            slack = f * (0.015 + 0.005 * p) + (0.0 if tolerance is None else 0.005) + 1e-9
            self.shipping_fixed[s] = shipping_fixed
            self.slope[s] = slope[s]
            self.price_lines[s] = _price_lines(options[s])
            self.caps[s] = sorted({cap for _, _, cap, _ in self.price_lines[s] if cap < math.inf})
            self.other_fixed[s] = float(supplier.order_fee) + float(problem.surcharges[s])
            self.slack[s] = slack
            fixed = shipping_fixed + self.other_fixed[s]
            self.min_days[s] = min(o.delivery_days for o in options[s])
            self.x_zero[s] = f * fixed - slack
            self.x_positive[s] = max(0.0, self.x_zero[s])

        self.cands: list[list[tuple[int, float]]] = []
        self.var: list[dict[int, float]] = []
        self.cand_mask: list[int] = []
        self.line_min_days: list[int] = []
        self.line_min_priority: list[int] = []
        self.mov_cands: list[list[int]] = []
        for line in range(n_lines):
            var = {
                s: self.factor[s] * (
                    float(self.line_cost[line][s]) * (1.0 + fee_share[s])
                    + slope[s] * float(self.line_weight[line][s])
                )
                for s in cands[line]
            }
            self.var.append(var)
            self.cands.append(sorted(var.items(), key=lambda item: (item[1], item[0])))
            mask = 0
            for s in cands[line]:
                mask |= 1 << s
            self.cand_mask.append(mask)
            self.line_min_days.append(min((self.min_days[s] for s in cands[line]), default=0))
            self.line_min_priority.append(min((self.priority[s] for s in cands[line]), default=0))
            self.mov_cands.append([s for s in cands[line] if self.mov[s] > 0])
        self.cand_count = [len(c) for c in cands]
        # How far each line's cheapest candidate is ahead of the next one (branching order).
        self.regret = [c[1][1] - c[0][1] if len(c) > 1 else math.inf for c in self.cands]
        self.lines_of_supplier: dict[int, list[tuple[int, float]]] = {s: [] for s in used}
        self.line_mask_of_supplier: dict[int, int] = {s: 0 for s in used}
        for line in range(n_lines):
            for s, var in self.cands[line]:
                self.lines_of_supplier[s].append((line, var))
                self.line_mask_of_supplier[s] |= 1 << line
        # Suppliers whose fixed cost is below the rounding slack: their floor is negative.
        self.negative_fixed = {s: x for s, x in self.x_zero.items() if x < 0}
        # Most constrained lines first: the static order ties are broken in.
        self.line_order = sorted(range(n_lines), key=lambda line: (self.cand_count[line], line))
        # Minimum order values, in floats: the search only uses them to drop branches that
        # certainly fall short by more than a cent; leaves are priced exactly.
        self.mov_float = {s: float(self.mov[s]) - 0.01 for s in used if self.mov[s] > 0}
        self.line_cost_float = [{s: float(self.line_cost[line][s]) for s in self.var[line]} for line in range(n_lines)]
        self.reach = {s: sum(self.line_cost_float[line].get(s, 0.0) for line in range(n_lines))
                      for s in self.mov_float}
        self.weight_reach = {s: float(sum((self.line_weight[line][s] for line in range(n_lines)
                                           if s in self.var[line]), ZERO)) for s in used}
        self.line_weight_float = [{s: float(self.line_weight[line][s]) for s in self.var[line]}
                                  for line in range(n_lines)]
        self.min_shipments = self.shipments_needed((1 << n_lines) - 1)
        self._open_floors: dict[tuple[int, float, float], float] = {}

    def open_fixed_floor(self, s: int, weight_now: float, weight_most: float) -> float:
        """The fixed part of an open shipment's floor, knowing it weighs between these two (memoised)."""
        key = (s, weight_now, weight_most)
        floor = self._open_floors.get(key)
        if floor is None:
            floor = self._open_fixed_floor(s, weight_now, weight_most)
            self._open_floors[key] = floor
        return floor

    def _open_fixed_floor(self, s: int, weight_now: float, weight_most: float) -> float:
        """The fixed part of an open shipment's floor, knowing it weighs between these two.

        Same line as x_zero (slope unchanged, so line costs still add up), lifted as high as
        it stays under the shipping price on [weight_now, weight_most]: once a shipment is
        past a service's max_kg, the step up to the next service shows in the bound.
        """
        slope = self.slope[s]
        weight_most = max(weight_now, weight_most)
        if self.problem.fastest:
            # The quickest service's price is concave between capacity steps but may step
            # down at one, so every piece's ends count.
            lines = self.price_lines[s]
            lifted = math.inf
            for weight, beyond in ((weight_now, False), (weight_most, False), *(
                    (cap, side) for cap in self.caps[s] if weight_now <= cap < weight_most for side in (False, True))):
                at = _price_at(lines, weight, beyond, True)
                if at < math.inf:
                    lifted = min(lifted, at - slope * weight)
        else:
            at_now = at_most = math.inf
            for base, per_kg, cap, _ in self.price_lines[s]:
                if cap >= weight_now:
                    at_now = min(at_now, base + per_kg * weight_now)
                    at_most = min(at_most, base + per_kg * weight_most)
            lifted = min(at_now - slope * weight_now, at_most - slope * weight_most)
        shipping = max(self.shipping_fixed[s], lifted - 1e-9)
        return self.factor[s] * (shipping + self.other_fixed[s]) - self.slack[s]

    def shipments_needed(self, lines_mask: int) -> int:
        """A floor on the shipments these lines need: lines sharing no candidate need one each."""
        count = 0
        used = 0
        for line in self.line_order:
            if (lines_mask >> line) & 1 and not self.cand_mask[line] & used:
                count += 1
                used |= self.cand_mask[line]
        return count

    def delivery_day_levels(self) -> list[int]:
        """Every delivery-day figure a shipment could have, ascending, from the first possible."""
        floor = max(self.line_min_days, default=0)
        days = {o.delivery_days for s in self.suppliers for o in self.problem.options[s]}
        return sorted(d for d in days if d >= floor)


def _shipping_floor(
    options: Sequence[ServiceOption], heaviest: float, fastest: bool = False
) -> tuple[float, float]:
    """(fixed, slope) of a line under the shipping price a shipment pays at every weight up to `heaviest`.

    The price at weight w is the least base + per_kg·w over services carrying w (under
    `fastest`, over the quickest of them, since that is the service the shipment takes):
    piecewise linear and concave between capacity steps, so a line through (0, price(0)) stays
    under it everywhere once it does at the ends of every piece. Taking the cheapest base and
    the cheapest per_kg separately would be valid too, but far weaker: a freight service's low
    per_kg would then discount every small parcel.
    """
    services = _price_lines(options)
    fixed = _price_at(services, 0.0, False, fastest)
    if fastest:
        # A quick service capped at 0 kg may be dearer than what carries the first gram.
        fixed = min(fixed, _price_at(services, 0.0, True, fastest))
    slope = min(k for _, k, _, _ in services)
    if heaviest <= 0:
        return fixed, slope
    ends = [heaviest] + [cap for _, _, cap, _ in services if cap < heaviest]
    best = math.inf
    for weight in ends:
        if weight <= 0:
            continue
        for beyond in (False, True):
            at = _price_at(services, weight, beyond, fastest)
            if at < math.inf:
                best = min(best, (at - fixed) / weight)
    if fastest:
        # The cheapest per_kg is no floor here: the quick service's price may step down past its cap.
        return fixed, best - 1e-9 if best < math.inf else slope
    # Never below the cheapest per_kg, which is always valid; guard float noise with a hair.
    return fixed, max(slope, best - 1e-9) if best < math.inf else slope


def _price_lines(options: Sequence[ServiceOption]) -> list[tuple[float, float, float, int]]:
    """(base, per_kg, max kg, transit days) per service, in floats, for the bounds."""
    return [(float(o.rate.base), float(o.rate.per_kg),
             math.inf if o.service.max_kg is None else float(o.service.max_kg), o.rate.transit_days)
            for o in options]


def _price_at(services: Sequence[tuple[float, float, float, int]], weight: float, beyond: bool, fastest: bool) -> float:
    """The shipping price (unrounded) of a shipment of this weight, or of one a hair heavier when `beyond`."""
    best = best_days = math.inf
    for base, per_kg, cap, days in services:
        if cap > weight if beyond else cap >= weight:
            price = base + per_kg * weight
            if fastest:
                if days < best_days or (days == best_days and price < best):
                    best, best_days = price, days
            elif price < best:
                best = price
    return best


class _BranchAndBound:
    """Exact search for the two best plans with at most `max_shipments` shipments."""

    def __init__(
        self, space: _SearchSpace, max_shipments: int, budget: _Budget, first_only: bool = False,
        level_key: tuple[int, ...] = (),
    ):
        self.space = space
        self.problem = space.problem
        self.objective = self.problem.policy.objective
        self.max_shipments = max_shipments
        self.budget = budget
        self.first_only = first_only
        n_lines = len(self.problem.lines)
        self.assignment = [-1] * n_lines
        self.lines_of = {s: 0 for s in space.suppliers}  # bitmask of lines per supplier
        self.weight = {s: ZERO for s in space.suppliers}
        self.weight_float = {s: 0.0 for s in space.suppliers}  # the same, for the bounds
        self.linear = {s: 0.0 for s in space.suppliers}
        self.reach = dict(space.reach)  # goods s can still reach, for minimum order values
        self.goods = {s: 0.0 for s in space.suppliers}
        self.weight_reach = dict(space.weight_reach)  # the most s's shipment can still weigh
        self.open_mask = 0
        self.open_list: list[int] = []
        self.covered = 0  # lines some open supplier may take
        self.best: _Found | None = None
        self.runner_up: _Found | None = None
        self._bar: tuple[int, ...] | None = None  # runner-up's numeric key: nothing worse can matter
        self._cost_position = {"lowest_cost": 0, "fastest": 2}.get(self.objective, 1)
        self.level_key = level_key  # the leading key components every plan of this level has

    def run(self, seed: tuple[int, ...] | None = None) -> None:
        """Search; a seed plan (any assignment) gives the bounds something to beat from the start."""
        if seed is not None:
            self._consider(seed)
        self._explore((1 << len(self.problem.lines)) - 1)

    def _explore(self, remaining: int) -> None:
        self.budget.nodes += 1
        self.budget.spend(_NODE_STEPS)
        if not remaining:
            self._consider_complete_plan()
            return
        bound = self._bound(remaining)
        if bound is None:
            return
        floor, effective_floor, prices, pick, top_ups = bound
        if self._bar is not None and floor > self._bar:
            return
        space = self.space
        open_mask = self.open_mask
        full = len(self.open_list) >= self.max_shipments
        # Each child's effective-cost floor from this node's line prices: giving `pick` to s
        # swaps its price for its cost at s; opening s adds s's fixed cost, and the prices s
        # was absorbing must drop to its costs for the prices to stay a valid bound. s's own
        # top-up towards its minimum order value may be what `pick` pays, so it is dropped;
        # the others' can only grow once `pick` is gone.
        without_pick = effective_floor - prices[pick]
        after_pick = remaining & ~(1 << pick)
        slots_after_opening = self.max_shipments - len(self.open_list) - 1
        children = []
        for s, var in space.cands[pick]:
            if (open_mask >> s) & 1:
                child = without_pick + var - top_ups.get(s, 0.0)
            elif full:
                continue
            else:
                # Opening s must leave few enough lines uncovered for the shipments still allowed.
                uncovered = after_pick & ~(self.covered | space.line_mask_of_supplier[s])
                if uncovered and (slots_after_opening <= 0 or space.shipments_needed(uncovered) > slots_after_opening):
                    continue
                child = without_pick + var + space.x_positive[s]
                for line, cost in space.lines_of_supplier[s]:
                    if line != pick and (remaining >> line) & 1 and prices[line] > cost:
                        child -= prices[line] - cost
            children.append((child, space.priority[s], s))
        children.sort()  # likeliest first, so good plans (and a tight bar) come early
        cost_at = self._cost_position
        for child, _, s in children:
            if self._bar is not None:
                child_floor = list(floor)
                child_floor[cost_at] = max(floor[cost_at], math.ceil(child * 100 - 1e-6))
                if tuple(child_floor) > self._bar:
                    if cost_at == 0:
                        break  # children are sorted by this very component
                    continue
            undo = self._assign(pick, s)
            if undo is not None:
                self._explore(remaining & ~(1 << pick))
                self._unassign(pick, s, undo)

    def _bound(
        self, remaining: int
    ) -> tuple[tuple[int, ...], float, dict[int, float], int, dict[int, float]] | None:
        """Lower bounds on the key of every completion, the line prices, and the line to branch on.

        None when no completion is feasible. The effective-cost floor is a dual of the
        facility-location relaxation: every open shipment's fixed and linear cost so far, plus a
        price per unassigned line no higher than its cost at any open candidate, where the prices
        above a closed supplier's costs sum to no more than its fixed cost (Erlenkotter's dual
        ascent raises them towards that).
        """
        space = self.space
        open_mask = self.open_mask
        open_list = self.open_list
        open_count = len(open_list)
        full = open_count >= self.max_shipments
        cands = space.cands
        var_of = space.var

        effective_floor = 0.0
        days_floor = 0
        priority_floor = 0
        for s in open_list:
            effective_floor += self.linear[s] + space.open_fixed_floor(s, self.weight_float[s], self.weight_reach[s])
            days_floor = max(days_floor, space.min_days[s])
            priority_floor += space.priority[s]

        lines = [line for line in space.line_order if (remaining >> line) & 1]
        self.budget.spend(len(lines))
        prices: dict[int, float] = {}
        uncovered = 0  # bitmask of lines no open supplier can take
        if full:
            # Every remaining line goes to an open shipment: its price is its cheapest one there.
            for line in lines:
                costs = var_of[line]
                price = math.inf
                for s in open_list:
                    cost = costs.get(s)
                    if cost is not None and cost < price:
                        price = cost
                if price == math.inf:
                    return None  # no open supplier takes this line and no new one may open
                prices[line] = price
        else:
            for line in lines:
                prices[line] = cands[line][0][1]
                if not space.cand_mask[line] & open_mask:
                    uncovered |= 1 << line
            for s, x in space.negative_fixed.items():
                if not (open_mask >> s) & 1:
                    effective_floor += x
            x_positive = space.x_positive
            budget: dict[int, float] = {}  # what each closed supplier's fixed cost can still absorb
            steps = 0
            # A line that cannot rise now never will (budgets only shrink), so each pass only
            # revisits the lines the previous one raised: the same prices, fewer looks.
            rising = lines
            for _ in range(_DUAL_ASCENT_PASSES):
                raised = False
                still_rising = []
                for line in rising:
                    price = prices[line]
                    limit = math.inf
                    for s, cost in cands[line]:
                        steps += 1
                        if cost > price:
                            limit = min(limit, cost)  # next breakpoint
                            break
                        if (open_mask >> s) & 1:
                            limit = price  # an open supplier caps the price at its cost
                            break
                        left = budget.get(s)
                        if left is None:
                            left = x_positive[s]
                        if price + left < limit:
                            limit = price + left
                            if limit <= price:
                                break
                    if price + 1e-9 < limit < math.inf:
                        step = limit - price
                        for s, cost in cands[line]:
                            if cost > price:
                                break
                            left = budget.get(s)
                            budget[s] = (x_positive[s] if left is None else left) - step
                        prices[line] = limit
                        raised = True
                        still_rising.append(line)
                if not raised:
                    break
                rising = still_rising
            self.budget.spend(steps)

        pick = -1
        pick_rank: tuple[Any, ...] | None = None
        line_min_days = space.line_min_days
        by_price = self.objective == "lowest_cost"
        regret = space.regret
        for line in lines:
            price = prices[line]
            effective_floor += price
            days_floor = max(days_floor, line_min_days[line])
            open_cands = space.cand_mask[line] & open_mask
            count = open_cands.bit_count() if full else space.cand_count[line]
            # Uncovered lines first; then, measured on generated catalogues, the line whose price
            # per candidate is highest (lowest_cost), or whose cheapest candidate is furthest
            # ahead of the next (fewest_shipments and fastest, searched level by level).
            if by_price:
                rank = (count > 1, open_cands != 0, -price / count, line)
            else:
                rank = (count > 1, open_cands != 0, -regret[line], line)
            if pick_rank is None or rank < pick_rank:
                pick_rank, pick = rank, line

        new_needed = 0
        if uncovered:
            new_needed = space.shipments_needed(uncovered)
            if open_count + new_needed > self.max_shipments:
                return None
        if space.mov_float:
            if not self._minimums_reachable(lines):
                return None
            top_ups = self._top_up_floors(remaining, prices)
            if top_ups is None:
                return None
            effective_floor += sum(top_ups.values())
        else:
            top_ups = {}
        if space.prio_nonnegative:
            if uncovered:
                priority_floor += max(space.line_min_priority[line] for line in _bits(uncovered))
        else:
            priority_floor += space.negative_priority_total - sum(min(0, space.priority[s]) for s in open_list)

        cents_floor = math.ceil(effective_floor * 100 - 1e-6)
        shipments_floor = open_count + new_needed
        if self.objective == "lowest_cost":
            floor = (cents_floor, shipments_floor, days_floor, priority_floor)
        elif self.objective == "fastest":
            floor = (days_floor, shipments_floor, cents_floor, priority_floor)
        else:
            floor = (shipments_floor, cents_floor, days_floor, priority_floor)
        if self.level_key:
            # A completion found in this level has exactly these leading components.
            floor = (*(max(f, v) for f, v in zip(floor, self.level_key, strict=False)), *floor[len(self.level_key):])
        return floor, effective_floor, prices, pick, top_ups

    def _minimums_reachable(self, lines: Sequence[int]) -> bool:
        """False when the open shipments short of their minimum order value cannot all be topped up.

        Each remaining line can top up one shipment only: the shortfalls must fit within the
        dearest contribution of every line, and there must be a line for each short shipment.
        """
        short = {s: self.space.mov_float[s] - self.goods[s] for s in self.open_list
                 if s in self.space.mov_float and self.goods[s] < self.space.mov_float[s]}
        if not short:
            return True
        if len(short) > len(lines):
            return False
        available = 0.0
        for line in lines:
            costs = self.space.line_cost_float[line]
            available += max((costs[s] for s in short if s in costs), default=0.0)
        return available >= sum(short.values())

    def _top_up_floors(self, remaining: int, prices: Mapping[int, float]) -> dict[int, float] | None:
        """What each open shipment short of its minimum order value must add above the line prices.

        A line going to an open shipment costs it at least the line's price, so topping up a
        shortfall costs at least the cheapest fractional fill by (cost − price) per unit of
        goods. Different shipments take different lines, so their top-ups add up. None when
        some shortfall cannot be filled at all.
        """
        space = self.space
        top_ups: dict[int, float] = {}
        for s in self.open_list:
            minimum = space.mov_float.get(s)
            if minimum is None or self.goods[s] >= minimum:
                continue
            need = minimum - self.goods[s]
            fills = []
            for line, var in space.lines_of_supplier[s]:
                if (remaining >> line) & 1:
                    goods = space.line_cost_float[line][s]
                    if goods > 0:
                        gap = max(0.0, var - prices[line])
                        fills.append((gap / goods, goods, gap))
            self.budget.spend(len(fills))
            fills.sort()
            top_up = 0.0
            for _, goods, gap in fills:
                if goods >= need:
                    top_up += gap * need / goods
                    need = 0.0
                    break
                top_up += gap
                need -= goods
            if need > 1e-9:
                return None
            top_ups[s] = top_up
        return top_ups

    def _assign(self, line: int, s: int) -> tuple[Any, ...] | None:
        """Give a line to s; None (and nothing changed) when that cannot lead to a feasible plan."""
        space = self.space
        self.budget.spend(_ASSIGN_STEPS)
        weight = self.weight[s] + space.line_weight[line][s]
        cap = space.cap_kg[s]
        if cap is not None and weight > cap:
            return None
        mov_cands = space.mov_cands[line]
        if mov_cands:
            # The line is gone for every other supplier: none that is open (or s, opening now)
            # may be left unable to reach its minimum order value.
            costs = space.line_cost_float[line]
            reach = self.reach
            for t in mov_cands:
                if t != s:
                    reach[t] -= costs[t]
            for t in mov_cands:
                if (t == s or self.lines_of[t]) and reach[t] < space.mov_float[t]:
                    for u in mov_cands:
                        if u != s:
                            reach[u] += costs[u]
                    return None
        opening = not self.lines_of[s]
        undo = (self.weight[s], self.weight_float[s], self.linear[s], self.goods[s], opening, self.covered)
        weights = space.line_weight_float[line]
        for t in weights:
            if t != s:
                self.weight_reach[t] -= weights[t]
        self.weight[s] = weight
        self.weight_float[s] = float(weight)
        self.linear[s] += space.var[line][s]
        self.goods[s] += space.line_cost_float[line][s]
        self.lines_of[s] |= 1 << line
        if opening:
            self.open_mask |= 1 << s
            self.open_list.append(s)
            self.covered |= space.line_mask_of_supplier[s]
        self.assignment[line] = s
        return undo

    def _unassign(self, line: int, s: int, undo: tuple[Any, ...]) -> None:
        space = self.space
        self.weight[s], self.weight_float[s], self.linear[s], self.goods[s], opening, self.covered = undo
        weights = space.line_weight_float[line]
        for t in weights:
            if t != s:
                self.weight_reach[t] += weights[t]
        self.assignment[line] = -1
        self.lines_of[s] &= ~(1 << line)
        if opening:
            self.open_mask &= ~(1 << s)
            self.open_list.pop()
        costs = space.line_cost_float[line]
        for t in space.mov_cands[line]:
            if t != s:
                self.reach[t] += costs[t]

    def _consider_complete_plan(self) -> None:
        self._consider(tuple(self.assignment))

    def _consider(self, assignment: tuple[int, ...]) -> None:
        """Weigh a complete plan: within this level it may become the best, else the runner-up."""
        # Above the runner-up's key a plan can be neither the best nor the runner-up.
        bar = self._bar
        if bar is not None and self._certainly_behind(assignment, bar):
            return
        key = self.problem.plan_key_of(assignment, self.space.days_cap, bar)
        if key is _BEHIND_BAR:
            return
        if key is None or len(set(assignment)) > self.max_shipments:
            # Outside this level (slower than its day cap, or more shipments): a real plan still,
            # so it may be the runner-up, never the best.
            key = self.problem.plan_key_of(assignment, None, bar)
            if key is not None and key is not _BEHIND_BAR and not self.first_only:
                self._offer_runner_up(_Found(key, assignment))
            return
        found = _Found(key, assignment)
        if self.best is None or key < self.best.key:
            previous, self.best = self.best, found
            if self.first_only:
                raise _FirstPlanFound
            if previous is not None:
                self._offer_runner_up(previous)
            self._offer_neighbours(found)
        else:
            self._offer_runner_up(found)

    def _certainly_behind(self, assignment: tuple[int, ...], bar: tuple[int, ...]) -> bool:
        """True when the plan's key within this level is surely above `bar`, judged without pricing.

        Shipments not priced yet count at their floor (the bound's fixed plus line costs, a
        lower bound on their effective cost) and their quickest delivery. A plan that only
        exists outside the level (slower, or more shipments) is then not looked at either: it
        could only have been an opportunistic runner-up.
        """
        space = self.space
        known = self.problem._figures
        masks: dict[int, int] = {}
        for line, s in enumerate(assignment):
            masks[s] = masks.get(s, 0) | (1 << line)
        cents = 0.0
        days = priority = 0
        var = space.var
        for s, mask in masks.items():
            figures = known.get((s, mask), _UNPRICED)
            if figures is _UNPRICED:
                floor = space.x_zero[s]
                for line in _bits(mask):
                    floor += var[line][s]
                cents += floor * 100
                shipment_days = space.min_days[s]
            elif figures is None:
                return False  # infeasible here: plan_key_of decides what it is
            else:
                cents += figures[0]  # type: ignore[index]
                shipment_days = figures[1]  # type: ignore[index]
            if shipment_days > days:
                days = shipment_days
            priority += space.priority[s]
        cents_floor = math.ceil(cents - 1e-6)
        if self.objective == "lowest_cost":
            head: tuple[int, ...] = (cents_floor, len(masks), days, priority)
        elif self.objective == "fastest":
            head = (days, len(masks), cents_floor, priority)
        else:
            head = (len(masks), cents_floor, days, priority)
        return head > bar

    def _offer_runner_up(self, found: _Found) -> None:
        if self.best is not None and found.assignment == self.best.assignment:
            return
        if self.runner_up is None or found.key < self.runner_up.key:
            self.runner_up = found
            self._bar = found.key[:4]

    def _offer_neighbours(self, best: _Found) -> None:
        """Price the plans next to a new best: its likeliest runner-ups, so the bar drops early.

        Moving one shipment whole to another supplier finds the twin of a plan among
        look-alike suppliers, and moving one line to another open shipment the near misses.
        Every neighbour is a real plan, so the runner-up stays exact however many are tried.
        """
        space = self.space
        assignment = best.assignment
        masks: dict[int, int] = {}
        for line, s in enumerate(assignment):
            masks[s] = masks.get(s, 0) | (1 << line)
        neighbours = []
        for s, mask in masks.items():
            for t in space.suppliers:
                if t != s and not mask & ~space.line_mask_of_supplier[t]:
                    neighbours.append(tuple(t if owner == s else owner for owner in assignment))
        for line, s in enumerate(assignment):
            for t in masks:
                if t != s and t in space.var[line]:
                    neighbours.append(assignment[:line] + (t,) + assignment[line + 1:])
        self.budget.spend(len(neighbours))
        for neighbour in neighbours:
            self._consider(neighbour)


@dataclass
class _SearchOutcome:
    """What the search settled on and how it got there."""

    best: _Found | None = None
    runner_up: _Found | None = None
    optimal: bool = True
    scope: str = ""  # which plans the runner-up was sought among, for the trace
    notes: list[str] = field(default_factory=list)


def _search_plan(problem: _RoutingProblem, base: _SearchSpace, budget: _Budget) -> _SearchOutcome:
    """Find the plan with the smallest key (and the runner-up) for the policy's objective."""
    policy = problem.policy
    enumerated = _enumerate_plans(problem, base, budget)
    if enumerated is not None:
        return enumerated
    base.prepare_bounds()
    outcome = _SearchOutcome()
    limit = min(len(problem.lines), len(base.suppliers))
    if policy.max_shipments is not None:
        limit = min(limit, policy.max_shipments)

    # Each level also says what its plans' leading key components are: every lower level was
    # searched and held no plan, so a plan of "at most k shipments" has exactly k, and one
    # "within D days" delivers in exactly D. The bound may start from those values.
    def levels() -> Iterable[tuple[_SearchSpace, int, str, tuple[int, ...]]]:
        if policy.objective == "lowest_cost":
            yield base, limit, "every feasible plan", ()
        elif policy.objective == "fewest_shipments":
            if base.min_shipments > limit:
                outcome.notes.append(f"the lines need at least {base.min_shipments} shipments; "
                                     f"at most {limit} are possible")
            for k in range(max(base.min_shipments, 1), limit + 1):
                yield base, k, f"plans of at most {k} shipments", (k,)
        else:
            for days in base.delivery_day_levels():
                space = _SearchSpace(problem, days, with_bounds=False)
                if space.blocked_line is not None:
                    outcome.notes.append(f"no plan delivers within {days} days: line {space.blocked_line + 1} "
                                         f"({problem.lines[space.blocked_line].sku}) has no supplier that fast")
                    continue
                space.prepare_bounds()  # only for a level that is searched
                for k in range(max(space.min_shipments, 1), min(limit, len(space.suppliers)) + 1):
                    yield space, k, f"plans delivering within {days} days in at most {k} shipments", (days, k)

    search: _BranchAndBound | None = None
    problem.budget = budget
    try:
        for space, max_shipments, scope, level_key in levels():
            search = _BranchAndBound(space, max_shipments, budget, level_key=level_key)
            search.run(seed=_greedy_plan(space))
            if search.best is not None:
                outcome.best, outcome.runner_up, outcome.scope = search.best, search.runner_up, scope
                return outcome
            outcome.notes.append(f"no feasible plan among {scope}")
    except _BudgetExhausted:
        problem.budget = None
        outcome.optimal = False
        outcome.notes.append(f"search budget of {budget.size} steps reached: "
                             "returning the best plan found, which may not be the optimum")
        if search is not None and search.best is not None:
            outcome.best, outcome.runner_up = search.best, search.runner_up
            outcome.scope = "the plans searched before the budget ran out"
            return outcome
        greedy = _greedy_plan(base)
        key = None if greedy is None else problem.plan_key_of(greedy)
        if key is not None:
            outcome.best = _Found(key, greedy)  # type: ignore[arg-type]
        else:
            fallback = _BranchAndBound(base, max(limit, 1), _Budget(FALLBACK_SEARCH_BUDGET), first_only=True)
            try:
                fallback.run()
            except (_FirstPlanFound, _BudgetExhausted):
                pass
            outcome.best = fallback.best
        outcome.scope = "the plans searched before the budget ran out"
    return outcome


def _enumerate_plans(problem: _RoutingProblem, space: _SearchSpace, budget: _Budget) -> _SearchOutcome | None:
    """Price every assignment when there are few (most 1–3 line orders): cheaper than bounding them.

    None when there are more than _ENUMERATION_LIMIT. Every key is exact, so best and
    runner-up are exact too, for any objective. An assignment is dropped as soon as the first
    component of its key is certainly above the runner-up's: its shipment count under
    fewest_shipments (before pricing anything), or its cost or delivery days so far (they only
    grow as its other shipments are added).
    """
    kept = space.kept
    total = math.prod(len(candidates) for candidates in kept)
    if total > _ENUMERATION_LIMIT:
        return None
    objective = problem.policy.objective
    limit = problem.policy.max_shipments
    known = problem._figures
    figures = problem.figures
    codes = problem.codes
    # What the first component of a key is: 0 shipments, 1 effective cost, 2 delivery days.
    first = {"fewest_shipments": 0, "lowest_cost": 1, "fastest": 2}[objective]
    choices = [[(s, 1 << line) for s in candidates] for line, candidates in enumerate(kept)]
    best: _Found | None = None
    runner_up: _Found | None = None
    bar: tuple[int, ...] | None = None  # the runner-up's numeric key: nothing above it can matter
    cut = 0
    for combo in itertools.product(*choices):
        masks: dict[int, int] = {}
        for s, bit in combo:
            masks[s] = masks.get(s, 0) | bit
        shipments = len(masks)
        if limit is not None and shipments > limit:
            continue
        if bar is not None and first == 0 and shipments > bar[0]:
            cut += 1
            continue
        cents = days = priority = 0
        feasible = True
        for s, mask in masks.items():
            found = known.get((s, mask), _UNPRICED)
            if found is _UNPRICED:
                found = figures(s, mask)
            if found is None:
                feasible = False
                break
            cents += found[0]  # type: ignore[index]
            if found[1] > days:  # type: ignore[index]
                days = found[1]  # type: ignore[index]
            priority += found[2]  # type: ignore[index]
            if bar is not None and ((first == 1 and cents > bar[0]) or (first == 2 and days > bar[0])):
                feasible = False
                cut += 1
                break
        if not feasible:
            continue
        if first == 1:
            head: tuple[int, ...] = (cents, shipments, days, priority)
        elif first == 2:
            head = (days, shipments, cents, priority)
        else:
            head = (shipments, cents, days, priority)
        if bar is not None and head > bar:
            continue
        assignment = tuple(s for s, _ in combo)
        key = (*head, tuple(codes[s] for s in sorted(masks)), tuple(codes[s] for s in assignment))
        if best is None or key < best.key:
            best, runner_up = _Found(key, assignment), best
        elif runner_up is None or key < runner_up.key:
            runner_up = _Found(key, assignment)
        else:
            continue
        if runner_up is not None:
            bar = runner_up.key[:4]
    budget.nodes += total
    budget.used += total
    note = f"priced all {total} assignment(s) of lines to suppliers one by one"
    if cut:
        note += f" ({cut} dropped part-way, already behind the runner-up)"
    return _SearchOutcome(best=best, runner_up=runner_up, scope="every feasible plan", notes=[note])


def _greedy_plan(space: _SearchSpace) -> tuple[int, ...] | None:
    """Some plan, fast: cover the lines greedily, then give each line to its cheapest chosen supplier."""
    n_lines = len(space.problem.lines)
    uncovered = (1 << n_lines) - 1
    chosen: list[int] = []
    while uncovered:
        pick: tuple[tuple[Any, ...], int] | None = None
        for s in space.suppliers:
            covers = uncovered & space.line_mask_of_supplier[s]
            if s in chosen or not covers:
                continue
            cost = space.x_zero[s] + sum(space.var[line][s] for line in _bits(covers))
            rank = (-covers.bit_count(), cost / covers.bit_count(), s)
            if pick is None or rank < pick[0]:
                pick = (rank, s)
        if pick is None:
            return None
        chosen.append(pick[1])
        uncovered &= ~space.line_mask_of_supplier[pick[1]]
    return tuple(min((space.var[line][s], s) for s in chosen if s in space.var[line])[1] for line in range(n_lines))


# ---------------------------------------------------------------------------------------------
# The decision
# ---------------------------------------------------------------------------------------------


def route_order(
    suppliers: Iterable[Supplier], rules: Iterable[Rule], order: Order, *, search_budget: int = DEFAULT_SEARCH_BUDGET
) -> Decision:
    """Decide which supplier ships each line of an order, or why a person must (ROUTING.md)."""
    ordered = tuple(sorted(suppliers, key=lambda s: s.code))
    for first, second in itertools.pairwise(ordered):
        if first.code == second.code:
            raise ValueError(f"suppliers: code {first.code!r} appears twice")
    policy, scopes, rule_trace = resolve_rules(rules, order)
    trace = list(rule_trace)

    # Eligibility per line, each offering supplier with the reason it was passed over.
    lookups = [supplier._offer_by_sku.get for supplier in ordered]
    eligible: list[list[int]] = []
    line_notes: list[list[TraceEntry]] = []
    review: tuple[int, ReviewReason] | None = None
    for i, line in enumerate(order.lines):
        notes: list[TraceEntry] = []
        sku = line.sku
        offering = [(s, ordered[s], offer) for s, lookup in enumerate(lookups) if (offer := lookup(sku)) is not None]
        reasons = []
        for s, supplier, offer in offering:
            assert offer is not None
            why = passed_over(supplier, offer, line, order, policy, scopes[i])
            reasons.append(None if why is None else why[0])
            if why is not None:
                notes.append(_candidate_note(i, line, supplier.code, why[0], why[1]))
        eligible.append([s for (s, _, _), why in zip(offering, reasons, strict=True) if why is None])
        if not offering:
            notes.append(TraceEntry("candidate", f"{_line_label(i, line)}: no supplier offers this SKU",
                                    line=i + 1, sku=line.sku, reason=ReviewReason.UNKNOWN_SKU))
        line_notes.append(notes)
        if review is None and not eligible[-1]:
            if not offering:
                review = (i, ReviewReason.UNKNOWN_SKU)
            elif all(r in _NOT_ALLOWED for r in reasons):
                review = (i, ReviewReason.NO_ELIGIBLE_SUPPLIER)
            elif all(r in _NOT_ALLOWED or r == PassedOver.BELOW_MOQ for r in reasons):
                review = (i, ReviewReason.BELOW_MOQ)
            else:
                review = (i, ReviewReason.OUT_OF_STOCK)

    def finish(notes_after: list[TraceEntry]) -> list[TraceEntry]:
        return trace + [note for notes in line_notes for note in notes] + notes_after

    if review is not None:
        i, reason = review
        verdict = TraceEntry("plan", f"manual review: {reason} on {_line_label(i, order.lines[i])}",
                             line=i + 1, sku=order.lines[i].sku, reason=reason)
        return Decision("manual_review", policy.objective, None, reason, True, tuple(finish([verdict])))

    problem = _RoutingProblem(ordered, order, policy, eligible)
    base = _SearchSpace(problem, None, with_bounds=False)
    for line, s, reason, detail in base.pruned:
        line_notes[line].append(_candidate_note(line, order.lines[line], ordered[s].code, reason, detail))
    if base.blocked_line is not None:
        i = base.blocked_line
        verdict = TraceEntry(
            "plan", f"manual review: no_feasible_plan: no supplier can ship {_line_label(i, order.lines[i])}",
            line=i + 1, sku=order.lines[i].sku, reason=ReviewReason.NO_FEASIBLE_PLAN,
        )
        return Decision("manual_review", policy.objective, None, ReviewReason.NO_FEASIBLE_PLAN, True,
                        tuple(finish([verdict])))

    budget = _Budget(search_budget)
    outcome = _search_plan(problem, base, budget)
    after = [TraceEntry("search", note) for note in outcome.notes]
    after.append(TraceEntry("search", f"search visited {budget.nodes} nodes in {budget.used} steps; "
                                      f"optimal: {str(outcome.optimal).lower()}"))
    if outcome.best is None:
        after.append(TraceEntry("plan", "manual review: no_feasible_plan: no assignment of lines to suppliers "
                                        "meets every limit (services, weight, minimum order value, rules)",
                                reason=ReviewReason.NO_FEASIBLE_PLAN))
        return Decision("manual_review", policy.objective, None, ReviewReason.NO_FEASIBLE_PLAN,
                        outcome.optimal, tuple(finish(after)))

    plan = _build_plan(problem, outcome.best.assignment)
    pruned = {(line, s) for line, s, _, _ in base.pruned}
    for i, line in enumerate(order.lines):
        winner = ordered[outcome.best.assignment[i]].code
        losers = [ordered[s].code for s in eligible[i] if ordered[s].code != winner and (i, s) not in pruned]
        for code in losers:
            line_notes[i].append(_candidate_note(i, line, code, PassedOver.NOT_CHOSEN, f"line went to {winner}"))
        line_notes[i].append(TraceEntry("candidate", f"{_line_label(i, line)}: goes to {winner}",
                                        line=i + 1, sku=line.sku, supplier=winner))
    for shipment in plan.shipments:
        after.append(TraceEntry("plan", _describe_shipment(shipment), supplier=shipment.supplier))
    after.append(TraceEntry("plan", f"plan: {len(plan.shipments)} shipment(s), landed cost {plan.landed_cost}, "
                                    f"effective cost {plan.effective_cost}, delivery {plan.delivery_days} days"))
    after.append(TraceEntry("search", _describe_runner_up(problem, outcome)))
    return Decision("routed", policy.objective, plan, None, outcome.optimal, tuple(finish(after)))


def _build_plan(problem: _RoutingProblem, assignment: Sequence[int]) -> Plan:
    masks: dict[int, int] = {}
    for line, s in enumerate(assignment):
        masks[s] = masks.get(s, 0) | (1 << line)
    shipments = []
    for s in sorted(masks):  # index order is supplier code order
        quote = problem.quote(s, masks[s])
        assert quote is not None
        shipments.append(quote.shipment)
    return Plan(problem.policy.objective, tuple(shipments))


def _describe_runner_up(problem: _RoutingProblem, outcome: _SearchOutcome) -> str:
    names = KEY_NAMES[problem.policy.objective]
    if outcome.runner_up is None:
        return f"no runner-up: the chosen plan is the only feasible one among {outcome.scope}"
    best, other = outcome.best.key, outcome.runner_up.key  # type: ignore[union-attr]
    index = next(i for i in range(len(best)) if best[i] != other[i])
    name = names[index]

    def shown(value: Any) -> str:
        if name == "effective cost":
            return str(Decimal(value) / 100)
        if isinstance(value, tuple):
            return "[" + ", ".join(value) + "]"
        return str(value)

    # Name only the lines the runner-up gives to someone else; the rest match the chosen plan.
    moves = ", ".join(
        f"{line.sku}→{problem.codes[theirs]} not {problem.codes[ours]}"
        for line, ours, theirs in zip(problem.lines, outcome.best.assignment,  # type: ignore[union-attr]
                                      outcome.runner_up.assignment, strict=True)
        if ours != theirs
    )
    return f"chosen plan beat the runner-up ({moves}) on {name}: {shown(best[index])} vs {shown(other[index])}"


def _describe_shipment(shipment: Shipment) -> str:
    lines = ", ".join(f"{line.sku}×{line.qty}" for line in shipment.lines)
    text = (f"shipment {shipment.supplier} by {shipment.carrier} {shipment.service}: {lines}; goods {shipment.goods} "
            f"+ shipping {shipment.shipping} + fees {shipment.fees} + surcharges {shipment.surcharges} "
            f"= landed {shipment.landed_cost}")
    if shipment.effective_cost != shipment.landed_cost:
        text += f" (counted as {shipment.effective_cost}, preferred)"
    return text + f"; {shipment.delivery_days} days"


def _line_label(index: int, line: OrderLine) -> str:
    return f"line {index + 1} {line.sku}×{line.qty}"


def _candidate_note(index: int, line: OrderLine, code: str, reason: PassedOver, detail: str) -> TraceEntry:
    return TraceEntry(
        "candidate", f"{_line_label(index, line)}: {code} passed over: {reason} ({detail})",
        line=index + 1, sku=line.sku, supplier=code, reason=str(reason), value=detail,
    )
