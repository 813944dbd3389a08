"""The rule editor: ROUTING.md's when/then as typed inputs, and the test and preview forms."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.channels import known_channels
from app.domain.routing import OBJECTIVES
from app.extensions import db
from app.models import Supplier
from app.services.routing_preview import DEFAULT_DAYS, MAX_DAYS
from app.services.rule_sets import RuleInput, RuleProblem

# Countries offered in the pickers besides every country a supplier ships to.
COUNTRIES = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "CA": "Canada", "CH": "Switzerland", "DE": "Germany",
    "DK": "Denmark", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom", "IE": "Ireland",
    "IT": "Italy", "MX": "Mexico", "NL": "Netherlands", "NO": "Norway", "PL": "Poland", "PT": "Portugal",
    "SE": "Sweden", "US": "United States",
}
OBJECTIVE_LABELS = {"fewest_shipments": "Fewest shipments", "lowest_cost": "Lowest landed cost",
                    "fastest": "Fastest delivery"}
_SEPARATORS = re.compile(r"[\s,;]+")


def country_choices() -> list[SelectChoice]:
    codes = set(COUNTRIES)
    for ships_to, warehouse in db.session.execute(select(Supplier.ships_to, Supplier.warehouse_country)):
        codes.update(ships_to or [])
        codes.add(warehouse)
    return [SelectChoice(value=code, label=f"{code} · {COUNTRIES.get(code, code)}") for code in sorted(codes)]


def supplier_choices() -> list[SelectChoice]:
    return [SelectChoice(value=code, label=code) for code in db.session.scalars(select(Supplier.code).order_by(Supplier.code))]


class CheckboxesField(SelectMultipleField):
    """A multi-select shown as a list of checkboxes: every choice visible, several may be ticked."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choices(labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value=value, label=label) for value, label in labels.items()]


def _words(text: str | None) -> list[str]:
    return [word for word in _SEPARATORS.split(text or "") if word]


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class RuleForm(FlaskForm):
    """One rule; every condition and action is optional, as in ROUTING.md."""

    name = StringField("Name", validators=[Length(max=120)],
                       description="Shown in every decision's trace, e.g. “Prefer ACME in the US”")
    priority = IntegerField("Priority", validators=[Optional()],
                            description="Lower applies first; each rule in a set has its own number")
    enabled = BooleanField("Enabled", default=True)
    when_channel = CheckboxesField("Sales channel", description="Any channel when none is chosen")
    when_country = CheckboxesField("Ship-to country", description="Any country when none is chosen")
    when_region = StringField("Ship-to region", validators=[Optional(), Length(max=500)],
                              description="Region or state codes, separated by commas, e.g. HI, AK")
    when_service = CheckboxesField("Service level", choices=_choices({"standard": "Standard", "express": "Express"}))
    when_min_order_value = DecimalField("Order value from", places=2, validators=[Optional(), NumberRange(min=0)],
                                        description="Σ price × quantity, inclusive")
    when_max_order_value = DecimalField("Order value up to", places=2, validators=[Optional(), NumberRange(min=0)])
    when_sku = TextAreaField("Only for these SKUs", validators=[Optional(), Length(max=5000)],
                             render_kw={"rows": 2, "spellcheck": "false"},
                             description="Our SKUs, separated by commas or spaces. Such a rule may only exclude "
                                         "suppliers or allow only some, for those lines.")
    then_exclude = CheckboxesField("Exclude suppliers")
    then_only = CheckboxesField("Allow only these suppliers")
    then_prefer = CheckboxesField("Prefer suppliers")
    then_prefer_tolerance_pct = DecimalField("…even when dearer by up to (%)", places=2,
                                             validators=[Optional(), NumberRange(min=0, max=100)])
    then_objective = SelectField("Objective", choices=_choices({"": "— not set —", **OBJECTIVE_LABELS}))
    then_max_shipments = IntegerField("At most this many shipments", validators=[Optional(), NumberRange(min=1, max=50)])
    then_max_delivery_days = IntegerField("Delivered within (days)", validators=[Optional(), NumberRange(min=0, max=365)])
    then_require_domestic = SelectField("Domestic warehouses only",
                                        choices=_choices({"": "— not set —", "true": "Yes", "false": "No"}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "rule")
        super().__init__(*args, **kwargs)
        suppliers = supplier_choices()
        self.when_channel.choices = _choices({name: name for name in known_channels()})
        self.when_country.choices = country_choices()
        for picker in (self.then_exclude, self.then_only, self.then_prefer):
            picker.choices = suppliers
        self.then_objective.choices = _choices({"": "— not set —", **{o: OBJECTIVE_LABELS[o] for o in OBJECTIVES}})

    @classmethod
    def for_rule(cls, rule) -> RuleForm:
        when, then = rule.when or {}, rule.then or {}
        require = then.get("require_domestic")
        data: dict[str, Any] = {
            "name": rule.name, "priority": rule.priority, "enabled": rule.enabled,
            "when_channel": when.get("channel") or [], "when_country": when.get("country") or [],
            "when_region": ", ".join(when.get("region") or []), "when_service": when.get("service") or [],
            "when_min_order_value": _as_decimal(when.get("min_order_value")),
            "when_max_order_value": _as_decimal(when.get("max_order_value")),
            "when_sku": ", ".join(when.get("sku") or []),
            "then_exclude": then.get("exclude") or [], "then_only": then.get("only") or [],
            "then_prefer": then.get("prefer") or [],
            "then_prefer_tolerance_pct": _as_decimal(then.get("prefer_tolerance_pct")),
            "then_objective": then.get("objective") or "", "then_max_shipments": then.get("max_shipments"),
            "then_max_delivery_days": then.get("max_delivery_days"),
            "then_require_domestic": "" if require is None else str(require).lower(),
        }
        return cls(formdata=None, data=data)

    @classmethod
    def blank(cls, next_priority: int) -> RuleForm:
        return cls(formdata=None, data={"priority": next_priority, "enabled": True})

    def rule_input(self) -> RuleInput:
        """The rule these inputs spell, for rule_sets.check_rule / add_rule / update_rule."""
        when: dict[str, Any] = {}
        for key in ("channel", "country", "service"):
            if getattr(self, f"when_{key}").data:
                when[key] = list(getattr(self, f"when_{key}").data)
        if _words(self.when_region.data):
            when["region"] = [word.upper() for word in _words(self.when_region.data)]
        for key in ("min_order_value", "max_order_value"):
            if getattr(self, f"when_{key}").data is not None:
                when[key] = _decimal_text(getattr(self, f"when_{key}").data)
        if _words(self.when_sku.data):
            when["sku"] = list(dict.fromkeys(_words(self.when_sku.data)))
        then: dict[str, Any] = {}
        for key in ("exclude", "only", "prefer"):
            if getattr(self, f"then_{key}").data:
                then[key] = list(getattr(self, f"then_{key}").data)
        if self.then_prefer_tolerance_pct.data is not None:
            then["prefer_tolerance_pct"] = _decimal_text(self.then_prefer_tolerance_pct.data)
        if self.then_objective.data:
            then["objective"] = self.then_objective.data
        for key in ("max_shipments", "max_delivery_days"):
            if getattr(self, f"then_{key}").data is not None:
                then[key] = getattr(self, f"then_{key}").data
        if self.then_require_domestic.data:
            then["require_domestic"] = self.then_require_domestic.data == "true"
        return RuleInput(name=(self.name.data or "").strip(), priority=self.priority.data,
                         enabled=bool(self.enabled.data), when=when, then=then)

    def add_problems(self, problems: list[RuleProblem]) -> None:
        """The service's refusals beside their fields; the rest above the form."""
        for problem in problems:
            target = getattr(self, problem.field, None) if problem.field else None
            (target.errors if target is not None else self.form_errors).append(problem.message)

    def field_errors(self) -> dict[str, str]:
        """Every field's message (empty when fine), for the live check's out-of-band swaps."""
        return {field.id: " ".join(field.errors) for field in self if field.type not in ("CSRFTokenField",)}


def _as_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class TrialForm(FlaskForm):
    """Try a rule set on a recent order or a pasted scenario."""

    order_id = SelectField("A recent order", coerce=str, validators=[Optional()])
    scenario = TextAreaField("Or paste a scenario (JSON)", validators=[Optional(), Length(max=200_000)],
                             render_kw={"rows": 6, "spellcheck": "false"},
                             description="ROUTING.md's scenario: an \"order\" and, optionally, \"suppliers\" "
                                         "(else today's supplier data). Its \"rules\" are replaced by this set's.")

    def __init__(self, *args, orders=(), **kwargs):
        kwargs.setdefault("prefix", "trial")
        super().__init__(*args, **kwargs)
        self.order_id.choices = _choices({"": "— choose an order —", **{
            str(order.id): f"{order.label} · {order.ship_to_country} · {len(order.lines)} line(s) · "
                           f"{order.total or 0:,.2f} {order.currency or ''}" for order in orders}})


class PreviewForm(FlaskForm):
    days = IntegerField("Replay the last (days)", default=DEFAULT_DAYS,
                        validators=[InputRequired(message="Enter a number of days."), NumberRange(min=1, max=MAX_DAYS)])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "preview")
        super().__init__(*args, **kwargs)
