"""The simulated suppliers' HTTP side, at /sandbox: one API style per demo supplier, plus controls for tests.

Public on purpose (it plays the suppliers, who check their own credentials) and exempt from CSRF
(suppliers' APIs are called by machines). Mounted only when SANDBOX is on.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import random
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, g, jsonify, request, url_for

from app.sandbox import catalog, clock, faults, formats, oauth
from app.sandbox.connections import (
    PAGE_SIZE,
    SANDBOX_SUPPLIERS,
    SandboxSupplier,
    sandbox_credentials,
)
from app.sandbox.offers import supplier_skus

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

MAX_PAGE_SIZE = 500
MAX_REALTIME_SKUS = 50
SERVER_ERRORS = (500, 502, 503)


def init_app(app: Flask) -> None:
    """Mount the sandbox when SANDBOX is on; otherwise (and when already mounted) do nothing."""
    if not app.config["DROPDESK"].sandbox or bp.name in app.blueprints:
        return
    from app.extensions import csrf
    from app.sandbox.storefront_routes import bp as storefront_bp
    from app.sandbox.supplier_order_routes import bp as supplier_orders_bp

    csrf.exempt(bp)
    csrf.exempt(storefront_bp)
    csrf.exempt(supplier_orders_bp)
    app.register_blueprint(bp)
    app.register_blueprint(storefront_bp)
    app.register_blueprint(supplier_orders_bp)


class BadSupplierRequest(ValueError):
    """A query parameter a real supplier API would refuse with 400."""


@bp.errorhandler(BadSupplierRequest)
def bad_request(error: BadSupplierRequest):
    return _json_error(400, "bad_request", str(error))


@bp.after_request
def remember_call(response: Response) -> Response:
    code = g.get("sandbox_supplier")
    if code:
        # Never the Authorization header or api_key: the stats must be safe to show anywhere.
        query = {name: values for name, values in request.args.lists() if name != "api_key"}
        faults.record_request(code, {"at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                                     "method": request.method, "path": request.path, "query": query,
                                     "status": response.status_code})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the suppliers' side -----------------------------------------------------------------------


@bp.get("/suppliers/<code>/stock")
def supplier_stock(code: str):
    supplier = SANDBOX_SUPPLIERS.get(code)
    if supplier is None:
        return _unknown_supplier(code)
    if supplier.style == "push":
        return _json_error(404, "not_found", f"{code} pushes its stock to Dropdesk; it has no stock endpoint.")
    refused = _play_faults(code) or _refuse_without_credentials(supplier)
    if refused:
        return refused
    return _STOCK_VIEWS[supplier.style](supplier)


@bp.get("/suppliers/<code>/stock/check")
def supplier_stock_check(code: str):
    """Realtime figures for a few SKUs (only the suppliers whose API offers it)."""
    supplier = SANDBOX_SUPPLIERS.get(code)
    if supplier is None:
        return _unknown_supplier(code)
    if supplier.style != "page_json":
        return _json_error(404, "not_found", f"{code} has no realtime stock check.")
    refused = _play_faults(code) or _refuse_without_credentials(supplier)
    if refused:
        return refused
    wanted = request.args.getlist("sku")
    if not 1 <= len(wanted) <= MAX_REALTIME_SKUS:
        raise BadSupplierRequest(f"ask for 1 to {MAX_REALTIME_SKUS} sku parameters")
    carried = set(_supplier_skus(code)) | set(catalog.extra_skus(code))
    now = _now()
    drifted = g.sandbox_faults.schema_drift
    items = [formats.page_json_item(catalog.item_at(code, sku, now), drifted) for sku in wanted if sku in carried]
    return _body(formats.json_body({"items": items}), "application/json")


@bp.post("/oauth/token")
def oauth_token():
    """OAuth2 client credentials (RFC 6749 §4.4): client id and secret in basic auth or in the form."""
    client_id, client_secret = request.form.get("client_id", ""), request.form.get("client_secret", "")
    if request.authorization and request.authorization.type == "basic":
        client_id = request.authorization.username or ""
        client_secret = request.authorization.password or ""
    code = oauth.supplier_for_client(client_id)
    if code is None:
        return _json_error(401, "invalid_client", "Unknown client.")
    refused = _play_faults(code)
    if refused:
        return refused
    if request.form.get("grant_type") != "client_credentials":
        return _json_error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if not oauth.client_secret_matches(code, client_secret):
        return _json_error(401, "invalid_client", "Client authentication failed.")
    token = oauth.issue_access_token(code, datetime.now(UTC))
    return jsonify(access_token=token, token_type="bearer",
                   expires_in=int(oauth.TOKEN_LIFETIME.total_seconds()), scope=request.form.get("scope") or "stock:read")


# --- controls for demos and tests --------------------------------------------------------------


@bp.route("/suppliers/<code>/faults", methods=["GET", "POST"])
def supplier_faults(code: str):
    """GET: the faults switched on. POST: replace them with the JSON body ({} clears)."""
    if code not in SANDBOX_SUPPLIERS:
        return _unknown_supplier(code)
    if request.method == "POST":
        try:
            chosen = faults.parse_faults(request.get_json(silent=True), datetime.now(UTC))
        except faults.FaultsError as error:
            return _json_error(400, "bad_faults", str(error))
        faults.set_faults(code, chosen)
    return jsonify(supplier=code, faults=faults.current_faults(code).to_json())


@bp.route("/suppliers/<code>/stats", methods=["GET", "DELETE"])
def supplier_stats(code: str):
    """GET: calls counted and the latest ones. DELETE: start counting again."""
    if code not in SANDBOX_SUPPLIERS:
        return _unknown_supplier(code)
    if request.method == "DELETE":
        faults.reset_stats(code)
    return jsonify(faults.supplier_stats(code))


@bp.route("/clock", methods=["GET", "POST"])
def sandbox_clock():
    """GET: the sandbox's time. POST {"frozen_at": iso} or {"advance_seconds": n} freezes/moves it; {} unfreezes."""
    if request.method == "POST":
        wanted = request.get_json(silent=True)
        try:
            _set_clock(wanted)
        except clock.ClockError as error:
            return _json_error(400, "bad_clock", str(error))
    frozen = clock.frozen_at()
    return jsonify(now=clock.sandbox_now().isoformat(), frozen=frozen is not None)


def _set_clock(wanted) -> None:
    if not isinstance(wanted, dict) or set(wanted) - {"frozen_at", "advance_seconds"} or len(wanted) > 1:
        raise clock.ClockError('send {"frozen_at": "<ISO instant>"}, {"advance_seconds": n} or {}')
    if "frozen_at" in wanted:
        try:
            clock.freeze_clock(datetime.fromisoformat(str(wanted["frozen_at"])))
        except ValueError as error:
            raise clock.ClockError(str(error)) from error
    elif "advance_seconds" in wanted:
        seconds = wanted["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise clock.ClockError("advance_seconds must be a whole number ≥ 0")
        clock.advance_clock(seconds)
    else:
        clock.unfreeze_clock()


# --- one view per API style --------------------------------------------------------------------


def _page_json(supplier: SandboxSupplier) -> Response:
    """ACME: ?page=&per_page=&updated_since= → {"items": [...], "page": n, "per_page": n}."""
    page = _whole_arg("page", 1, minimum=1)
    per_page = _whole_arg("per_page", PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    items = _current_items(supplier.code)
    since = _instant_arg("updated_since")
    if since is not None:
        items = catalog.changed_since(items, since)
    chosen = items[(page - 1) * per_page: page * per_page]
    drifted = g.sandbox_faults.schema_drift
    body = {"items": [formats.page_json_item(item, drifted) for item in chosen], "page": page, "per_page": per_page}
    return _body(formats.json_body(body), "application/json", page_number=page)


def _cursor_json(supplier: SandboxSupplier) -> Response:
    """EUROHUB: ?cursor=&limit= → {"data": {"products": [...]}, "meta": {"next_cursor": ..|null}}."""
    limit = _whole_arg("limit", PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    offset = _offset_from_cursor(request.args.get("cursor") or "")
    items = _current_items(supplier.code)
    chosen = items[offset: offset + limit]
    following = offset + limit
    zone = ZoneInfo(supplier.timezone)
    drifted = g.sandbox_faults.schema_drift
    body = {"data": {"products": [formats.cursor_json_product(item, drifted, zone) for item in chosen]},
            "meta": {"next_cursor": _cursor_for(following) if following < len(items) else None, "count": len(chosen)}}
    return _body(formats.json_body(body), "application/json", page_number=offset // limit + 1)


def _next_link_json(supplier: SandboxSupplier) -> Response:
    """ATLAS: ?page=&page_size= → {"results": [...], "links": {"next": "/sandbox/...?page=n+1..." | null}}."""
    page = _whole_arg("page", 1, minimum=1)
    page_size = _whole_arg("page_size", PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    items = _current_items(supplier.code)
    chosen = items[(page - 1) * page_size: page * page_size]
    # The link carries no api_key: the client adds its credentials to every call itself.
    following = (url_for("sandbox.supplier_stock", code=supplier.code, page=page + 1, page_size=page_size)
                 if page * page_size < len(items) else None)
    drifted = g.sandbox_faults.schema_drift
    body = {"results": [formats.next_link_json_result(item, drifted) for item in chosen],
            "links": {"next": following}}
    return _body(formats.json_body(body), "application/json", page_number=page)


def _offset_json(supplier: SandboxSupplier) -> Response:
    """PACIFIC: ?offset=&limit= → {"products": [...], "offset", "limit", "total"}."""
    offset = _whole_arg("offset", 0, minimum=0)
    limit = _whole_arg("limit", PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    items = _current_items(supplier.code)
    drifted = g.sandbox_faults.schema_drift
    body = {"products": [formats.offset_json_product(item, drifted) for item in items[offset: offset + limit]],
            "offset": offset, "limit": limit, "total": len(items)}
    return _body(formats.json_body(body), "application/json", page_number=offset // limit + 1)


def _semicolon_csv(supplier: SandboxSupplier) -> Response:
    body = formats.semicolon_csv(_current_items(supplier.code), g.sandbox_faults.schema_drift, ZoneInfo(supplier.timezone))
    return _body(body, "text/csv; charset=utf-8", page_number=1)


def _comma_csv(supplier: SandboxSupplier) -> Response:
    body = formats.comma_csv(_current_items(supplier.code), g.sandbox_faults.schema_drift)
    return _body(body, "text/csv; charset=utf-8", page_number=1)


def _upload_csv(supplier: SandboxSupplier) -> Response:
    body = formats.upload_csv(_current_items(supplier.code), g.sandbox_faults.schema_drift)
    response = _body(body, "text/csv; charset=utf-8", page_number=1)
    response.headers["Content-Disposition"] = f'attachment; filename="{supplier.code.lower()}-stock.csv"'
    return response


def _xml(supplier: SandboxSupplier) -> Response:
    body = formats.inventory_xml(_current_items(supplier.code), g.sandbox_faults.schema_drift,
                                 ZoneInfo(supplier.timezone), _now())
    return _body(body, "application/xml", page_number=1)


_STOCK_VIEWS = {
    "page_json": _page_json,
    "cursor_json": _cursor_json,
    "next_link_json": _next_link_json,
    "offset_json": _offset_json,
    "semicolon_csv": _semicolon_csv,
    "comma_csv": _comma_csv,
    "upload_csv": _upload_csv,
    "xml": _xml,
}


# --- shared steps ------------------------------------------------------------------------------


def _play_faults(code: str) -> Response | None:
    """Count the call, then act out the supplier's switched-on faults; a Response when a fault answers instead."""
    g.sandbox_supplier = code
    faults.count_request(code)
    active = g.sandbox_faults = faults.current_faults(code)
    if active.latency_ms:
        time.sleep(active.latency_ms / 1000)
    if active.down:
        return _json_error(503, "unavailable", f"{code} is down for maintenance.", retry_after=active.down_retry_after)
    if active.rate_limit and faults.next_rate_limit_count(code) % active.rate_limit.every == 0:
        return _json_error(429, "rate_limited", "Too many requests.", retry_after=active.rate_limit.retry_after_seconds)
    if active.error_rate and random.random() < active.error_rate:
        return _json_error(random.choice(SERVER_ERRORS), "server_error", f"{code} failed to answer.")
    return None


def _refuse_without_credentials(supplier: SandboxSupplier) -> Response | None:
    """401 unless the call carries the credentials `sandbox_credentials` gives this supplier."""
    expected = sandbox_credentials(supplier.code)
    if supplier.auth in ("api_key_header", "api_key_query"):
        given = (request.headers.get(supplier.auth_header, "") if supplier.auth == "api_key_header"
                 else request.args.get("api_key", ""))
        if _same(given, expected["api_key"]):
            return None
        return _json_error(401, "unauthorized", "A valid API key is required.")
    if supplier.auth == "basic":
        given = request.authorization
        if (given and given.type == "basic" and _same(given.username or "", expected["username"])
                and _same(given.password or "", expected["password"])):
            return None
        return _json_error(401, "unauthorized", "Sign in with the supplier's user name and password.",
                           authenticate='Basic realm="sandbox"')
    if supplier.auth in ("bearer", "oauth2_client_credentials"):
        token = _bearer_token()
        if supplier.auth == "bearer" and _same(token, expected["token"]):
            return None
        if supplier.auth == "oauth2_client_credentials" and oauth.access_token_valid(
                token, supplier.code, datetime.now(UTC), g.sandbox_faults.tokens_revoked_at):
            return None
        return _json_error(401, "invalid_token", "A valid bearer token is required.",
                           authenticate='Bearer realm="sandbox", error="invalid_token"')
    return None


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _body(body: bytes, content_type: str, page_number: int | None = None) -> Response:
    """The stock body, cut short when this page is the one switched to malformed."""
    if page_number is not None and g.sandbox_faults.malformed_page == page_number:
        body = formats.malformed(body, is_csv=content_type.startswith("text/csv"))
    return Response(body, 200, content_type=content_type)


def _current_items(code: str) -> list[catalog.SimulatedItem]:
    """The supplier's whole simulated stock now, sorted by SKU (computed once per request)."""
    if "sandbox_items" not in g:
        g.sandbox_items = catalog.stock_at(code, _supplier_skus(code), _now())
    return g.sandbox_items


def _supplier_skus(code: str) -> list[str]:
    if "sandbox_skus" not in g:
        g.sandbox_skus = supplier_skus(code)
    return g.sandbox_skus


def _now() -> datetime:
    if "sandbox_now" not in g:
        g.sandbox_now = clock.sandbox_now()
    return g.sandbox_now


def _whole_arg(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise BadSupplierRequest(f"{name} must be a whole number of at least {minimum}{limit}")
    return int(raw)


def _instant_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    moment = None
    head, _, offset = raw.strip().rpartition(" ")
    # A '+' in an unencoded query string arrives as a space: "…T10:00:00 01:00" meant "+01:00".
    for candidate in (raw.strip(), f"{head}+{offset}" if head else None):
        try:
            moment = datetime.fromisoformat(candidate) if candidate else None
        except ValueError:
            continue
        if moment is not None:
            break
    if moment is None or moment.tzinfo is None:
        raise BadSupplierRequest(f"{name} must be an ISO 8601 instant with an offset, e.g. 2026-01-05T10:00:00Z")
    return moment


def _cursor_for(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset_from_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    kind, _, figure = decoded.partition(":")
    if kind != "offset" or not figure.isdigit():
        raise BadSupplierRequest("cursor is not one this API issued")
    return int(figure)


def _json_error(status: int, error: str, message: str, retry_after: int | None = None,
                authenticate: str | None = None) -> Response:
    response = jsonify(error=error, message=message)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if authenticate:
        response.headers["WWW-Authenticate"] = authenticate
    return response


def _unknown_supplier(code: str) -> Response:
    return _json_error(404, "unknown_supplier", f"No sandbox supplier {code!r}; known: {', '.join(SANDBOX_SUPPLIERS)}.")
