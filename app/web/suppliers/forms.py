"""The supplier connection form (credentials write-only) and the feed mapping editor."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.services.supplier_settings import (
    AUTH_STYLE_LABELS,
    CONNECTION_TYPE_LABELS,
    CONNECTION_TYPES,
    CREDENTIAL_LABELS,
    CREDENTIAL_NAMES,
    CREDENTIALS_NEEDED,
    PULLED_TYPES,
    SECRET_CREDENTIAL,
    ConnectionChange,
    FeedSample,
    credential_noun,
    mapping_problem_field,
    option_at,
    pagination_styles,
)

PAGINATION_LABELS = {"none": "One page, no paging", "page": "Page numbers", "offset": "Offset and limit",
                     "cursor": "Cursor in the body", "next_link": "Next-page link in the body"}
# Connection form field -> the dotted connection option it edits.
OPTION_FIELDS = {
    "base_url": "base_url", "stock_path": "stock_path", "timeout_seconds": "timeout_seconds",
    "delta_param": "delta.param", "realtime_path": "realtime.path", "realtime_sku_param": "realtime.sku_param",
    "pagination_style": "pagination.style", "page_param": "pagination.page_param",
    "size_param": "pagination.size_param", "page_size": "pagination.page_size",
    "first_page": "pagination.first_page", "offset_param": "pagination.offset_param",
    "limit_param": "pagination.limit_param", "cursor_param": "pagination.cursor_param",
    "cursor_path": "pagination.cursor_path", "next_link_path": "pagination.next_link_path",
    "auth_style": "auth.style", "auth_header": "auth.header", "auth_query_param": "auth.query_param",
    "auth_token_url": "auth.token_url", "auth_scope": "auth.scope",
}
SCHEDULE_FIELDS = ("poll_interval_minutes", "low_stock_threshold", "missing_runs_before_unknown",
                   "guard_max_drop_pct", "guard_max_out_flip_pct")
MAPPING_FIELDS = ("sku", "quantity", "updated_at", "status", "cost")
FEED_FORMATS = {"json": "JSON", "csv": "CSV", "xml": "XML"}
TAB = "\\t"


def http_url(_form, field) -> None:
    """Only http:// and https:// addresses with a host: a supplier is never reached any other way."""
    if not field.data:
        return
    try:
        parts = urlsplit(field.data.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("Enter an address that starts with http:// or https://.")


def _text(value: Any) -> Any:
    """Form text trimmed, blank as None (the connector's default then applies)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _choices(labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value=value, label=label) for value, label in labels.items()]


class ConnectionForm(FlaskForm):
    """How Dropdesk reaches one supplier; credentials are typed in, never shown back."""

    connection_type = SelectField("Connection type", choices=_choices({name: CONNECTION_TYPE_LABELS.get(name, name)
                                                                       for name in CONNECTION_TYPES}))
    base_url = URLField("Address", validators=[Optional(), Length(max=2000), http_url],
                        description="The supplier's API or file, e.g. https://api.supplier.example.com/v1")
    stock_path = StringField("Stock path", validators=[Optional(), Length(max=500)],
                             description="Added to the address, e.g. /stock; blank: the address itself")
    timeout_seconds = FloatField("Timeout (seconds)", validators=[Optional(), NumberRange(min=0.5, max=600)],
                                 description="Per request, 0.5 to 600; blank: 10")
    delta_param = StringField("Changed-since parameter", validators=[Optional(), Length(max=100)],
                              description="e.g. updated_since, for delta pulls; blank: full pulls only")
    realtime_path = StringField("Realtime check path", validators=[Optional(), Length(max=500)],
                                description="e.g. /stock/check; blank: no realtime check")
    realtime_sku_param = StringField("Realtime SKU parameter", validators=[Optional(), Length(max=100)],
                                     description="Blank: sku")
    pagination_style = SelectField("Pagination", choices=_choices(PAGINATION_LABELS))
    page_param = StringField("Page parameter", validators=[Optional(), Length(max=100)], description="Blank: page")
    size_param = StringField("Page size parameter", validators=[Optional(), Length(max=100)],
                             description="Blank: per_page (cursor and next-link: none sent)")
    page_size = IntegerField("Page size", validators=[Optional(), NumberRange(min=1, max=10_000)],
                             description="Records per page, 1 to 10,000; blank: 500")
    first_page = IntegerField("First page number", validators=[Optional(), NumberRange(min=0, max=1)],
                              description="0 or 1; blank: 1")
    offset_param = StringField("Offset parameter", validators=[Optional(), Length(max=100)], description="Blank: offset")
    limit_param = StringField("Limit parameter", validators=[Optional(), Length(max=100)], description="Blank: limit")
    cursor_param = StringField("Cursor parameter", validators=[Optional(), Length(max=100)], description="Blank: cursor")
    cursor_path = StringField("Cursor path in the body", validators=[Optional(), Length(max=200)],
                              description="Blank: meta.next_cursor")
    next_link_path = StringField("Next link path in the body", validators=[Optional(), Length(max=200)],
                                 description="Blank: links.next")
    auth_style = SelectField("Sign-in", choices=_choices(AUTH_STYLE_LABELS))
    auth_header = StringField("API key header", validators=[Optional(), Length(max=100)], description="Blank: X-Api-Key")
    auth_query_param = StringField("API key query parameter", validators=[Optional(), Length(max=100)],
                                   description="Blank: api_key")
    auth_token_url = URLField("Token URL", validators=[Optional(), Length(max=2000), http_url],
                              description="OAuth2 client credentials only")
    auth_scope = StringField("Scope", validators=[Optional(), Length(max=500)],
                             description="OAuth2 only, when the supplier asks for one")
    poll_interval_minutes = IntegerField("Poll every (minutes)", validators=[Optional(), NumberRange(min=1, max=1440)])
    low_stock_threshold = IntegerField("Low-stock threshold", validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    missing_runs_before_unknown = IntegerField(
        "Missing runs before unknown", validators=[InputRequired(message="Enter a number of runs."), NumberRange(min=1, max=100)],
        description="A SKU absent from this many completed full feeds in a row becomes unknown")
    guard_max_drop_pct = IntegerField(
        "Hold a feed that cuts total stock by more than (%)",
        validators=[InputRequired(message="Enter a percentage."), NumberRange(min=1, max=100)],
        description="1 to 100; 100 never holds")
    guard_max_out_flip_pct = IntegerField(
        "Hold a feed that flips more SKUs to out of stock than (%)",
        validators=[InputRequired(message="Enter a percentage."), NumberRange(min=1, max=100)],
        description="1 to 100; 100 never holds")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "connection")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_supplier(cls, supplier) -> ConnectionForm:
        """The form filled in from the stored connection; credential inputs stay empty."""
        options = supplier.connection_options or {}
        data: dict[str, Any] = {name: option_at(options, path) for name, path in OPTION_FIELDS.items()}
        data["pagination_style"] = data["pagination_style"] or "none"
        data["auth_style"] = data["auth_style"] or "none"
        data["connection_type"] = supplier.connection_type
        data.update({name: getattr(supplier, name) for name in SCHEDULE_FIELDS})
        return cls(formdata=None, data=data).describe(supplier)

    def describe(self, supplier) -> ConnectionForm:
        """Say which credentials are stored (never their values) and what a blank setting falls back to."""
        config = current_app.config["DROPDESK"]
        self.poll_interval_minutes.description = f"Blank: every {config.poll_interval_minutes} min, the default"
        self.low_stock_threshold.description = f"Below this a SKU shows as low; blank: {config.low_stock_threshold}, the default"
        self.stored_credentials = frozenset(supplier.masked_credentials)
        for name in CREDENTIAL_NAMES:
            stored = name in self.stored_credentials
            getattr(self, name).description = "set •••••••• · leave empty to keep it" if stored else "not set"
        # Changing the type or the sign-in redraws the credential inputs to those the choice needs.
        redraw = {"hx-post": url_for("suppliers.connection_credentials", code=supplier.code), "hx-trigger": "change",
                  "hx-target": "#connection-credentials", "hx-select": "#connection-credentials",
                  "hx-swap": "outerHTML"}
        self.connection_type.render_kw = self.auth_style.render_kw = redraw
        return self

    @property
    def credential_fields(self):
        """(password input, clear box or None) for each credential this connection needs or holds."""
        wanted = set(CREDENTIALS_NEEDED.get(self.auth_style.data or "none", ()))
        if self.connection_type.data == "push":
            wanted.add(SECRET_CREDENTIAL)
        stored = getattr(self, "stored_credentials", frozenset())
        return [(getattr(self, name), getattr(self, f"clear_{name}") if name in stored else None)
                for name in CREDENTIAL_NAMES if name in wanted or name in stored]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        connection_type = self.connection_type.data
        if connection_type in PULLED_TYPES:
            if not _text(self.base_url.data):
                self.base_url.errors.append("Enter the supplier's address; this connection is pulled from it.")
            styles = pagination_styles(connection_type)
            if self.pagination_style.data not in styles:
                labels = ", ".join(PAGINATION_LABELS[style].lower() for style in styles)
                self.pagination_style.errors.append(f"This connection type can follow: {labels}.")
            if self.auth_style.data == "oauth2_client_credentials" and not _text(self.auth_token_url.data):
                self.auth_token_url.errors.append("OAuth2 needs the supplier's token URL.")
        for name in CREDENTIAL_NAMES:
            if _text(getattr(self, name).data) and getattr(self, f"clear_{name}").data:
                getattr(self, f"clear_{name}").errors.append(
                    f"Either type a new {credential_noun(name)} or clear it, not both.")
        return valid and not any(field.errors for field in self)

    def connection_change(self) -> ConnectionChange:
        """The requested change, for supplier_settings.save_connection."""
        edits = {path: _text(getattr(self, name).data) for name, path in OPTION_FIELDS.items()}
        timeout = edits["timeout_seconds"]
        if isinstance(timeout, float) and timeout.is_integer():
            edits["timeout_seconds"] = int(timeout)
        return ConnectionChange(
            connection_type=self.connection_type.data,
            option_edits=edits,
            **{name: getattr(self, name).data for name in SCHEDULE_FIELDS},
            new_credentials={name: value for name in CREDENTIAL_NAMES if (value := _text(getattr(self, name).data))},
            cleared_credentials=frozenset(name for name in CREDENTIAL_NAMES if getattr(self, f"clear_{name}").data),
        )

    def add_problem(self, message: str, field: str | None) -> None:
        """A refusal from the service, beside its field when it names one."""
        target = getattr(self, field, None) if field else None
        (target.errors if target is not None else self.form_errors).append(message)


# Credentials are the same few inputs for every supplier: one write-only input and one clear box each.
for _name in CREDENTIAL_NAMES:
    setattr(ConnectionForm, _name, PasswordField(CREDENTIAL_LABELS[_name], validators=[Optional(), Length(max=4000)]))
    setattr(ConnectionForm, f"clear_{_name}", BooleanField(f"Clear the stored {credential_noun(_name)}"))


class MappingForm(FlaskForm):
    """The FEEDS.md mapping as staff edit it, plus a sample to preview it on (the sample is never saved)."""

    format = SelectField("Format", choices=_choices(FEED_FORMATS))
    records = StringField("Records path", validators=[Optional(), Length(max=500)],
                          description="JSON: dotted path to the list (blank: the body itself); "
                                      "XML: path under the document element, e.g. products/product; CSV: unused")
    sku = StringField("SKU", validators=[Optional(), Length(max=500)],
                      description="JSON: dotted path; CSV: column header; XML: child, child/grandchild, @attr")
    quantity = StringField("Quantity", validators=[Optional(), Length(max=500)])
    updated_at = StringField("Updated at", validators=[Optional(), Length(max=500)])
    status = StringField("Status", validators=[Optional(), Length(max=500)])
    cost = StringField("Cost", validators=[Optional(), Length(max=500)])
    csv_delimiter = StringField("CSV delimiter", validators=[Optional(), Length(max=2)],
                                description="One character; \\t for tab; blank: comma")
    status_map = TextAreaField("Status words", render_kw={"rows": 5, "cols": 30, "spellcheck": "false"},
                               description="One per line: supplier text = in_stock, low_stock, out_of_stock or discontinued")
    timezone = StringField("Timezone", validators=[Optional(), Length(max=64)],
                           description="IANA zone for timestamps without an offset, e.g. Europe/Berlin; blank: UTC")
    assume_quantity = IntegerField("Assume quantity", validators=[Optional(), NumberRange(min=0, max=1_000_000)],
                                   description="When the supplier says only “in stock”; blank: such records are rejected")
    sample_text = TextAreaField("Paste a sample", render_kw={"rows": 10, "cols": 100, "spellcheck": "false"},
                                description="A few records of the supplier's feed, as it sends them")
    sample_file = FileField("Or upload a sample file")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "mapping")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_supplier(cls, supplier) -> MappingForm:
        """The form filled in from the stored mapping."""
        mapping = supplier.feed_mapping or {}
        fields = mapping.get("fields") if isinstance(mapping.get("fields"), dict) else {}
        csv_options = mapping.get("csv") if isinstance(mapping.get("csv"), dict) else {}
        status_map = mapping.get("status_map") if isinstance(mapping.get("status_map"), dict) else {}
        delimiter = csv_options.get("delimiter")
        data = {
            "format": mapping.get("format") or _default_format(supplier.connection_type),
            "records": mapping.get("records"),
            **{name: fields.get(name) for name in MAPPING_FIELDS},
            "csv_delimiter": TAB if delimiter == "\t" else delimiter,
            "status_map": "\n".join(f"{text} = {status}" for text, status in status_map.items()),
            "timezone": mapping.get("timezone"),
            "assume_quantity": mapping.get("assume_quantity"),
        }
        return cls(formdata=None, data=data)

    def validate_status_map(self, field) -> None:
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            text, equals, status = line.rpartition("=")
            if line.strip() and (not equals or not text.strip() or not status.strip()):
                raise ValidationError(f"Line {number}: write it as supplier text = status.")

    def validate_csv_delimiter(self, field) -> None:
        if field.data and field.data != TAB and len(field.data) != 1:
            raise ValidationError("One character, or \\t for tab.")

    def mapping(self) -> dict[str, Any]:
        """The FEEDS.md mapping these inputs spell; the domain decides whether it is usable."""
        mapping: dict[str, Any] = {"format": self.format.data}
        if _text(self.records.data):
            mapping["records"] = _text(self.records.data)
        mapping["fields"] = {name: value for name in MAPPING_FIELDS if (value := _text(getattr(self, name).data))}
        if self.format.data == "csv" and self.csv_delimiter.data:
            mapping["csv"] = {"delimiter": "\t" if self.csv_delimiter.data == TAB else self.csv_delimiter.data}
        status_map = {}
        for line in (self.status_map.data or "").splitlines():
            text, equals, status = line.rpartition("=")
            if equals and text.strip():
                status_map[text.strip()] = status.strip()
        if status_map:
            mapping["status_map"] = status_map
        if _text(self.timezone.data):
            mapping["timezone"] = _text(self.timezone.data)
        if self.assume_quantity.data is not None:
            mapping["assume_quantity"] = self.assume_quantity.data
        return mapping

    def sample(self, max_bytes: int) -> FeedSample | None:
        """The uploaded file if one was chosen, else the pasted text; None when there is neither."""
        upload = self.sample_file.data
        if upload is not None and getattr(upload, "filename", ""):
            # One byte over the limit is enough for the service to say the sample is too large.
            return FeedSample(upload.read(max_bytes + 1), f"the file {upload.filename}")
        if self.sample_text.data and self.sample_text.data.strip():
            return FeedSample(self.sample_text.data, "the pasted sample")
        return None

    def first_problem(self) -> str:
        """The first thing wrong with the inputs, named by its label, for the preview."""
        for field in self:
            if field.errors:
                return f"{field.label.text}: {' '.join(field.errors)}"
        return " ".join(self.form_errors) or "The form cannot be read; reload the page and try again."

    def add_problem(self, message: str, field: str | None = None) -> None:
        """A refusal from the service, beside its field when it names one (mapping.fields.sku → SKU)."""
        field = field or mapping_problem_field(message)
        target = getattr(self, field, None) if field in {f.short_name for f in self} else None
        (target.errors if target is not None else self.form_errors).append(message)


def _default_format(connection_type: str) -> str:
    return {"csv_http": "csv", "xml_http": "xml"}.get(connection_type, "json")

