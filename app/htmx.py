"""All htmx glue in one place: page-or-fragment rendering, Vary, HX-Trigger/HX-Redirect, toasts."""
from __future__ import annotations

import json
from typing import Iterable

from flask import Flask, Response, get_flashed_messages, make_response, render_template, request
from jinja2_fragments.flask import render_block

VARY = "HX-Request, HX-Target"


def is_htmx_request() -> bool:
    return bool(getattr(request, "htmx", False))


def _target_block() -> str | None:
    """The block named by the element htmx is swapping: id `stock-table` -> block `stock_table`."""
    if not is_htmx_request() or request.htmx.boosted:
        return None
    target = request.headers.get("HX-Target")
    return target.replace("-", "_") if target else None


def render_page(template: str, fragments: Iterable[str] = (), status: int = 200, **context) -> Response:
    """Render the whole page, or just the named block when htmx asks for one of `fragments`."""
    block = _target_block()
    if block and block in fragments:
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.headers["Vary"] = VARY
    return response


def render_fragment(template: str, block: str, status: int = 200, **context) -> Response:
    """Render one block of a page template (for endpoints that only ever answer htmx)."""
    response = make_response(render_block(template, block, **context), status)
    response.headers["Vary"] = VARY
    return response


def redirect_browser(url: str, status: int = 200) -> Response:
    """Send the whole browser to `url` (never swaps the target page into a fragment)."""
    response = make_response("", status)
    response.headers["HX-Redirect"] = url
    return response


def trigger(response: Response, *events: str, **detailed: object) -> Response:
    """Announce client-side events (e.g. `users-changed`) so other components refresh."""
    current = response.headers.get("HX-Trigger")
    payload: dict[str, object] = json.loads(current) if current and current.startswith("{") else (
        {name: None for name in current.split(",")} if current else {}
    )
    payload.update({name: None for name in events})
    payload.update(detailed)
    response.headers["HX-Trigger"] = json.dumps(payload)
    return response


def _append_toasts(response: Response) -> Response:
    """After an htmx request, deliver flashed messages out of band into the toast region."""
    if not is_htmx_request() or response.headers.get("HX-Redirect") or response.direct_passthrough:
        return response
    if not response.mimetype == "text/html":
        return response
    messages = get_flashed_messages(with_categories=True)
    if messages:
        toasts = render_template("components/toasts.html", messages=messages, oob=True)
        response.set_data(response.get_data(as_text=True) + toasts)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_append_toasts)
