"""Admins change how Dropdesk reaches a supplier and reads its feed: validated, audited, secrets never shown.

Credentials are write-only here: a change names the values to replace or clear, the audit log
records only that a credential changed, and nothing returned or logged carries a secret (invariant 7).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from app import connectors
from app.connectors import (
    CONNECTORS,
    ConnectionSettings,
    ConnectorError,
    MemoryTokenCache,
    RetryPolicy,
)
from app.connectors.auth import (
    CREDENTIALS_NEEDED as CONNECTOR_CREDENTIALS,
)
from app.connectors.auth import (
    DEFAULT_API_KEY_HEADER,
    DEFAULT_API_KEY_PARAM,
    SupplierAuth,
)
from app.connectors.http import DEFAULT_TIMEOUT_SECONDS, timeout_seconds
from app.connectors.paged import Pagination
from app.connectors.push import SECRET_CREDENTIAL
from app.connectors.xml import parse_supplier_xml
from app.domain.feeds import (
    FeedMapping,
    FeedMappingError,
    FeedParseError,
    FeedReject,
    StockRecord,
    normalize_feed,
)
from app.extensions import db
from app.models import Supplier
from app.models.types import utcnow
from app.services import ServiceError, audit, sync
from app.services.stock_updates import threshold_for

log = logging.getLogger(__name__)

CONNECTION_TYPES = tuple(CONNECTORS)
PULLED_TYPES = sync.PULLED_TYPES
CONNECTION_TYPE_LABELS = {
    "rest_json": "JSON API over HTTP(S)",
    "csv_http": "CSV file over HTTP(S)",
    "xml_http": "XML document over HTTP(S)",
    "upload": "Files uploaded in the console",
    "push": "Supplier pushes to our webhook",
}
AUTH_STYLE_LABELS = {
    "none": "None",
    "api_key_header": "API key in a header",
    "api_key_query": "API key in the query",
    "basic": "HTTP basic",
    "bearer": "Bearer token",
    "oauth2_client_credentials": "OAuth2 client credentials",
}
# Every credential a connection can hold: what each auth style needs, and a push supplier's signing secret.
CREDENTIAL_NAMES = ("api_key", "username", "password", "token", "client_id", "client_secret", SECRET_CREDENTIAL)
CREDENTIAL_LABELS = {
    "api_key": "API key",
    "username": "Username",
    "password": "Password",
    "token": "Bearer token",
    "client_id": "OAuth2 client ID",
    "client_secret": "OAuth2 client secret",
    SECRET_CREDENTIAL: "Webhook signing secret",
}
# Auth style -> the credentials it sends (the connector's own table, so the two cannot drift apart).
CREDENTIALS_NEEDED: dict[str, tuple[str, ...]] = {style: tuple(names) for style, names in CONNECTOR_CREDENTIALS.items()}
_PAGINATION_DEFAULTS = Pagination()
# An option left out means the connector's default: saving the default in its place is no change.
OPTION_DEFAULTS: dict[str, Any] = {
    "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
    "pagination.style": "none",
    **{f"pagination.{name}": getattr(_PAGINATION_DEFAULTS, name)
       for name in ("page_param", "page_size", "offset_param", "limit_param", "cursor_param", "cursor_path",
                    "next_link_path", "first_page", "max_pages")},
    "realtime.sku_param": "sku",
    "auth.style": "none",
    "auth.header": DEFAULT_API_KEY_HEADER,
    "auth.query_param": DEFAULT_API_KEY_PARAM,
}
PREVIEW_ROWS = 50
SAMPLE_MAX_BYTES = 5 * 1024 * 1024
# A person waits for "fetch one page": one retry, short pauses, and a supplier's Retry-After held to two seconds.
FETCH_POLICY = RetryPolicy(attempts=2, base_seconds=0.2, cap_seconds=1.0, retry_after_cap_seconds=2.0)
_MAPPING_FIELD = re.compile(r"mapping\.(?:fields\.)?(?:csv\.)?(?P<name>[a-z_]+)")


class UnknownSupplier(ServiceError):
    """No supplier has this code."""


@dataclass(frozen=True)
class ConnectionChange:
    """What the connection form asks for: non-secret settings, and which credentials to replace or clear."""

    connection_type: str
    option_edits: dict[str, Any]  # dotted option path -> new value; None removes it (the connector's default applies)
    poll_interval_minutes: int | None
    low_stock_threshold: int | None
    missing_runs_before_unknown: int
    guard_max_drop_pct: int
    guard_max_out_flip_pct: int
    new_credentials: dict[str, str] = field(default_factory=dict, repr=False)  # secrets: never in reprs or logs
    cleared_credentials: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FeedSample:
    """A sample of the supplier's feed to preview a mapping on: pasted text, an uploaded file or a fetched page."""

    body: str | bytes = field(repr=False)
    label: str


@dataclass(frozen=True)
class MappingPreview:
    """What a mapping makes of a sample: the first records and rejects, with their counts, or why it cannot say."""

    records: tuple[StockRecord, ...] = ()
    rejects: tuple[FeedReject, ...] = ()
    record_count: int = 0
    reject_count: int = 0
    sample_label: str = ""
    mapping_problem: str | None = None
    sample_problem: str | None = None

    @property
    def has_sample(self) -> bool:
        return bool(self.sample_label)


@dataclass(frozen=True)
class SavedConnection:
    supplier: Supplier
    changed: tuple[str, ...]
    warning: str | None = None  # e.g. the feed mapping no longer fits the connection type


@dataclass(frozen=True)
class SavedMapping:
    supplier: Supplier
    changed: tuple[str, ...]
    preview: MappingPreview


@dataclass(frozen=True)
class FetchedSample:
    """The first page of the supplier's feed as text (secrets scrubbed), or None with the reason in the preview."""

    text: str | None
    preview: MappingPreview


def pagination_styles(connection_type: str) -> tuple[str, ...]:
    """The pagination styles a connection type can follow (none for connections that are not pulled)."""
    return tuple(getattr(CONNECTORS.get(connection_type), "pagination_styles", ()))


def credential_noun(name: str) -> str:
    """A credential's label inside a sentence: "the API key", "the password"."""
    label = CREDENTIAL_LABELS[name]
    first = label.split()[0]
    return label if first.isupper() or any(char.isdigit() for char in first) else label[0].lower() + label[1:]


def option_at(options: dict[str, Any], path: str) -> Any:
    """The value at a dotted option path, None when absent."""
    value: Any = options
    for step in path.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def get_supplier(code: str) -> Supplier:
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        raise UnknownSupplier(f"No supplier {code}.")
    return supplier


# --- connection -------------------------------------------------------------------------------


def save_connection(code: str, change: ConnectionChange, actor) -> SavedConnection:
    """Write the supplier's connection and schedule settings plus one audit entry of what changed."""
    supplier = get_supplier(code)
    if change.connection_type not in CONNECTORS:
        raise ServiceError("Choose one of the listed connection types.", field="connection_type")
    changes: dict[str, tuple[Any, Any]] = {}
    if change.connection_type != supplier.connection_type:
        changes["connection_type"] = (supplier.connection_type, change.connection_type)

    options = copy.deepcopy(supplier.connection_options or {})
    for path, value in change.option_edits.items():
        old = option_at(options, path)
        if _effective(path, old) != _effective(path, value):
            _set_option(options, path, value)
            changes[f"options.{path}"] = (old, value)

    settings_fields = ("poll_interval_minutes", "low_stock_threshold", "missing_runs_before_unknown",
                       "guard_max_drop_pct", "guard_max_out_flip_pct")
    for name in settings_fields:
        if getattr(supplier, name) != getattr(change, name):
            changes[name] = (getattr(supplier, name), getattr(change, name))

    stored = supplier.credentials
    credentials = dict(stored)
    for name in sorted(change.cleared_credentials):
        if name in credentials:
            del credentials[name]
            changes[f"credentials.{name}"] = ("set", "cleared")
    for name, secret in sorted(change.new_credentials.items()):
        if name not in CREDENTIAL_NAMES:
            raise ServiceError(f"Unknown credential {name}.")
        if secret and credentials.get(name) != secret:
            credentials[name] = secret
            # Only the fact of a change is recorded, never a value (invariant 7).
            changes[f"credentials.{name}"] = ("set" if name in stored else "not set", "changed")

    _check_connection(supplier.code, change.connection_type, options, credentials, supplier.feed_mapping or {})

    warning = _mapping_mismatch(change.connection_type, supplier.feed_mapping or {})
    if not changes:
        return SavedConnection(supplier, (), warning)
    supplier.connection_type = change.connection_type
    supplier.connection_options = options
    for name in settings_fields:
        setattr(supplier, name, getattr(change, name))
    if credentials != stored:
        supplier.credentials = credentials
    audit.record(actor, "supplier.connection_changed", "supplier", supplier.id, changes)
    db.session.commit()
    log.info("supplier_connection_saved supplier=%s changed=%s", supplier.code, ",".join(changes))
    return SavedConnection(supplier, tuple(changes), warning)


def _mapping_mismatch(connection_type: str, mapping: dict[str, Any]) -> str | None:
    """Why the stored feed mapping cannot be read by this connection type, when it cannot."""
    expected = getattr(CONNECTORS.get(connection_type), "feed_format", None)
    if expected is None or not mapping or mapping.get("format") == str(expected):
        return None
    return (f"The feed mapping reads {str(mapping.get('format') or 'nothing').upper()}, but this connection sends "
            f"{str(expected).upper()}: change the mapping before the next sync.")


def _effective(path: str, value: Any) -> Any:
    return OPTION_DEFAULTS.get(path) if value is None else value


def _set_option(options: dict[str, Any], path: str, value: Any) -> None:
    """Set (or, for None, remove) a dotted option, dropping objects left empty."""
    *parents, leaf = path.split(".")
    trail = [options]
    for step in parents:
        child = trail[-1].get(step)
        if not isinstance(child, dict):
            if value is None:
                return
            child = trail[-1][step] = {}
        trail.append(child)
    if value is None:
        trail[-1].pop(leaf, None)
        for container, step in zip(reversed(trail[:-1]), reversed(parents)):
            if container.get(step) == {}:
                del container[step]
    else:
        trail[-1][leaf] = value


def _check_connection(code: str, connection_type: str, options: dict, credentials: dict, mapping: dict) -> None:
    """Refuse a connection the connector could not use, naming the field to fix where there is one."""
    if connection_type == "push":
        if not credentials.get(SECRET_CREDENTIAL):
            raise ServiceError("A pushing supplier needs a webhook signing secret; without it every push is refused.",
                               field=SECRET_CREDENTIAL)
        return
    if connection_type not in PULLED_TYPES:
        return
    if not options.get("base_url"):
        raise ServiceError("A pulled connection needs the supplier's address.", field="base_url")
    auth = options.get("auth") if isinstance(options.get("auth"), dict) else {}
    style = auth.get("style") or "none"
    for name in CREDENTIALS_NEEDED.get(style, ()):
        if not credentials.get(name):
            raise ServiceError(f"{AUTH_STYLE_LABELS.get(style, style)} needs the {credential_noun(name)}.",
                               field=name)
    style_name = option_at(options, "pagination.style") or "none"
    if style_name not in pagination_styles(connection_type):
        raise ServiceError(f"A {CONNECTION_TYPE_LABELS[connection_type]} connection cannot follow {style_name} "
                           f"pagination (it can: {', '.join(pagination_styles(connection_type))}).",
                           field="pagination_style")
    # Last, the connector's own reading of the settings, so a saved connection is one it can use.
    settings = ConnectionSettings(supplier_code=code, connection_type=connection_type, options=options,
                                  credentials=credentials, mapping=mapping)
    try:
        Pagination.from_options(options.get("pagination"), code)
        timeout_seconds(settings)
        SupplierAuth(settings, MemoryTokenCache())
    except ConnectorError as error:
        raise ServiceError(error.message) from None


# --- mapping ----------------------------------------------------------------------------------


def preview_mapping(code: str, mapping: dict[str, Any], sample: FeedSample | None) -> MappingPreview:
    """What the mapping makes of the sample, without saving anything."""
    return _preview(get_supplier(code), mapping, sample)


def save_mapping(code: str, mapping: dict[str, Any], actor, sample: FeedSample | None = None) -> SavedMapping:
    """Store the supplier's feed mapping with an audit entry; the preview shows what it makes of the sample."""
    supplier = get_supplier(code)
    try:
        parsed = FeedMapping.from_dict(mapping)
    except FeedMappingError as error:
        raise ServiceError(str(error), field=mapping_problem_field(str(error))) from None
    expected = getattr(CONNECTORS.get(supplier.connection_type), "feed_format", None)
    if expected is not None and parsed.format is not expected:
        raise ServiceError(f"This supplier's connection sends {str(expected).upper()}; choose {str(expected).upper()} "
                           "or change the connection type first.", field="format")
    old, new = _flat_mapping(supplier.feed_mapping or {}), _flat_mapping(mapping)
    changes = {name: (old.get(name), new.get(name)) for name in sorted(old.keys() | new.keys())
               if old.get(name) != new.get(name)}
    if changes:
        supplier.feed_mapping = copy.deepcopy(mapping)
        audit.record(actor, "supplier.mapping_changed", "supplier", supplier.id, changes)
        db.session.commit()
        log.info("supplier_mapping_saved supplier=%s changed=%s", supplier.code, ",".join(changes))
    return SavedMapping(supplier, tuple(changes), _preview(supplier, mapping, sample))


def mapping_problem_field(message: str) -> str | None:
    """The mapping form field a FeedMappingError message is about (mapping.fields.sku → sku), if it names one."""
    match = _MAPPING_FIELD.match(message)
    if match is None:
        return None
    return {"csv": "csv_delimiter", "delimiter": "csv_delimiter"}.get(match.group("name"), match.group("name"))


def fetch_sample_page(code: str, mapping: dict[str, Any]) -> FetchedSample:
    """Ask the supplier for the first page of its feed only, as a sample to preview the mapping on."""
    supplier = get_supplier(code)
    connector = CONNECTORS.get(supplier.connection_type)
    feed_format = getattr(connector, "feed_format", None)
    if supplier.connection_type not in PULLED_TYPES or feed_format is None:
        how = "uploaded in the console" if supplier.connection_type == "upload" else "pushed to us"
        return FetchedSample(None, MappingPreview(
            sample_problem=f"There is nothing to fetch: this supplier's stock is {how}. Paste or upload a sample."))
    settings = sync.connection_settings(supplier)
    options = copy.deepcopy(settings.options)
    pagination = options.get("pagination")
    options["pagination"] = {**(pagination if isinstance(pagination, dict) else {}), "max_pages": 1}
    try:
        usable = FeedMapping.from_dict(mapping).format is feed_format
    except FeedMappingError:
        usable = False
    # The connector checks a mapping before it calls; the body is what we want, so any mapping of its format will do.
    pull_mapping = mapping if usable else {"format": str(feed_format), "fields": {"sku": "sku"}}
    settings = dataclasses.replace(settings, options=options, mapping=pull_mapping)

    first_page: list[httpx.Response] = []

    def keep_first_page(response: httpx.Response) -> None:
        if not first_page and response.request.method == "GET" and response.is_success:
            response.read()
            first_page.append(response)

    client = httpx.Client(follow_redirects=False, event_hooks={"response": [keep_first_page]})
    try:
        connectors.pull_stock(settings, since=None, received_at=utcnow(), client=client, policy=FETCH_POLICY,
                              token_cache=sync.RedisTokenCache())
    except ConnectorError as error:
        # Page 1 arrived and only what came after it failed (more pages, or a body this mapping cannot read yet).
        if not first_page:
            log.info("supplier_sample_failed supplier=%s reason=%s", supplier.code, error.reason)
            return FetchedSample(None, MappingPreview(sample_problem=f"The supplier could not be asked: {error.message}"))
    finally:
        client.close()
    response = first_page[0]
    if len(response.content) > SAMPLE_MAX_BYTES:
        return FetchedSample(None, MappingPreview(
            sample_problem=f"The first page is {len(response.content) / 1_048_576:.1f} MB, more than a preview takes; "
                           "paste part of it instead."))
    text = response.text
    for secret in sorted(settings.secret_values(), key=len, reverse=True):
        text = text.replace(secret, "***")  # a supplier echoing our key must not put it on a page
    log.info("supplier_sample_fetched supplier=%s bytes=%s", supplier.code, len(response.content))
    return FetchedSample(text, _preview(supplier, mapping, FeedSample(text, "the first page, fetched from the supplier just now")))


def _preview(supplier: Supplier, mapping: dict[str, Any], sample: FeedSample | None) -> MappingPreview:
    label = sample.label if sample else ""
    try:
        parsed = FeedMapping.from_dict(mapping)
    except FeedMappingError as error:
        return MappingPreview(sample_label=label, mapping_problem=str(error))
    if sample is None:
        return MappingPreview()
    if len(sample.body) > SAMPLE_MAX_BYTES:
        return MappingPreview(sample_label=label, sample_problem=(
            f"The sample is larger than {SAMPLE_MAX_BYTES // 1_048_576} MB; a few hundred records are enough to preview."))
    try:
        feed = normalize_feed(sample.body, parsed, utcnow(), threshold=threshold_for(supplier),
                              parse_xml=parse_supplier_xml)
    except (FeedParseError, RecursionError) as error:
        # The sample's text is never quoted back: the parser's own words say where it broke.
        reason = str(error) if isinstance(error, FeedParseError) else "it is nested too deeply"
        return MappingPreview(sample_label=label, sample_problem=f"The sample cannot be read as {parsed.format}: {reason}")
    return MappingPreview(records=feed.records[:PREVIEW_ROWS], rejects=feed.rejects[:PREVIEW_ROWS],
                          record_count=len(feed.records), reject_count=len(feed.rejects), sample_label=label)


def _flat_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping one value per key for the audit log: fields.sku, csv.delimiter, status_map, …"""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in ("fields", "csv") and isinstance(value, dict):
            flat.update({f"{key}.{name}": item for name, item in value.items()})
        else:
            flat[key] = value
    return flat
