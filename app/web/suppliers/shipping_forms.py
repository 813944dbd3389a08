"""Forms for a supplier's shipping data: terms, services, rates, surcharges and the CSV rate import."""
from __future__ import annotations

import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DecimalField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from app.models.shipping import SPEEDS
from app.services.shipping import RateInput, ServiceInput, ShippingTerms, SurchargeInput

COUNTRY_CODE = Regexp(r"^\s*[A-Za-z]{2}\s*$", message="Two letters, like DE or US.")


class TermsForm(FlaskForm):
    order_fee = DecimalField("Fee per shipment", places=2, validators=[InputRequired(message="Enter an amount; 0 for none."),
                                                                       NumberRange(min=0)])
    fee_pct = DecimalField("Fee (% of goods)", places=2, validators=[InputRequired(message="Enter a percentage; 0 for none."),
                                                                     NumberRange(min=0, max=100)])
    min_order_value = DecimalField("Minimum order value", places=2,
                                   validators=[InputRequired(message="Enter an amount; 0 for none."), NumberRange(min=0)],
                                   description="Goods value a shipment must reach")
    lead_time_days = IntegerField("Lead time (days)", validators=[InputRequired(message="Enter a number of days."),
                                                                 NumberRange(min=0, max=90)],
                                  description="Handling days before the carrier has it")
    warehouse_country = StringField("Warehouse country", validators=[InputRequired(message="Enter a country code."),
                                                                     COUNTRY_CODE])
    ships_to = StringField("Ships to", validators=[InputRequired(message="Enter at least one country."), Length(max=1000)],
                           description="Country codes separated by commas, e.g. US, CA")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "terms")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_supplier(cls, supplier) -> TermsForm:
        return cls(formdata=None, data={"order_fee": supplier.order_fee, "fee_pct": supplier.fee_pct,
                                        "min_order_value": supplier.min_order_value,
                                        "lead_time_days": supplier.lead_time_days,
                                        "warehouse_country": supplier.warehouse_country,
                                        "ships_to": ", ".join(sorted(supplier.ships_to or []))})

    def terms(self) -> ShippingTerms:
        return ShippingTerms(order_fee=self.order_fee.data, fee_pct=self.fee_pct.data,
                             min_order_value=self.min_order_value.data, lead_time_days=self.lead_time_days.data,
                             warehouse_country=self.warehouse_country.data,
                             ships_to=tuple(code for code in re.split(r"[\s,;]+", self.ships_to.data or "") if code))


class ServiceForm(FlaskForm):
    carrier = StringField("Carrier", validators=[InputRequired(message="Name the carrier."), Length(max=40)])
    service = StringField("Service", validators=[InputRequired(message="Name the service."), Length(max=60)])
    speed = SelectField("Speed", choices=[SelectChoice(value=speed, label=speed) for speed in SPEEDS])
    max_kg = DecimalField("Weight limit (kg)", validators=[Optional(), NumberRange(min=0.001)],
                          description="Blank: no limit")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "service")
        super().__init__(*args, **kwargs)

    def service_input(self) -> ServiceInput:
        return ServiceInput(self.carrier.data, self.service.data, self.speed.data, self.max_kg.data)


class RateForm(FlaskForm):
    service_id = SelectField("Service", choices=[])
    country = StringField("Country", validators=[InputRequired(message="Enter a country code."), COUNTRY_CODE])
    base = DecimalField("Base", places=2, validators=[InputRequired(message="Enter an amount."), NumberRange(min=0)])
    per_kg = DecimalField("Per kg", places=2, validators=[InputRequired(message="Enter an amount; 0 for none."),
                                                          NumberRange(min=0)])
    transit_days = IntegerField("Transit days", validators=[InputRequired(message="Enter a number of days."),
                                                            NumberRange(min=0, max=90)])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "rate")
        super().__init__(*args, **kwargs)

    def for_services(self, services) -> RateForm:
        self.service_id.choices = [SelectChoice(value=str(s.id), label=f"{s.carrier} {s.service} ({s.speed})")
                                   for s in services]
        return self

    def rate_input(self) -> RateInput:
        return RateInput(self.country.data, self.base.data, self.per_kg.data, self.transit_days.data)


class SurchargeForm(FlaskForm):
    country = StringField("Country", validators=[InputRequired(message="Enter a country code."), COUNTRY_CODE])
    region = StringField("Region", validators=[Optional(), Length(max=40)], description="Blank: the whole country")
    amount = DecimalField("Amount", places=2, validators=[InputRequired(message="Enter an amount."),
                                                          NumberRange(min=0.01)])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "surcharge")
        super().__init__(*args, **kwargs)

    def surcharge_input(self) -> SurchargeInput:
        return SurchargeInput(self.country.data, self.region.data, self.amount.data)


class RateImportForm(FlaskForm):
    rates_file = FileField("Rate table (CSV)")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "import")
        super().__init__(*args, **kwargs)
