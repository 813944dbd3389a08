"""Blueprints: thin routes (validate -> one service call -> render)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError

from app import htmx

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # No inline scripts or styles anywhere: htmx is configured from a meta tag, charts are SVG attributes.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}


def _error_page(status: int, title: str, message: str) -> Response:
    if htmx.is_htmx_request():
        # htmx does not swap error responses; app.js shows this text as a toast.
        response = Response(message, status, mimetype="text/plain")
    else:
        response = Response(render_template("error.html", status=status, title=title, message=message), status)
    return response


def ago(moment: datetime | None) -> str:
    """'3 min ago' style age of a UTC time."""
    if moment is None:
        return "never"
    seconds = int((datetime.now(timezone.utc) - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def duration(span) -> str:
    """'2 h 5 min' style length of a timedelta."""
    minutes = int(span.total_seconds() // 60)
    if minutes >= 48 * 60:
        return f"{minutes // 1440} d"
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{max(minutes, 1)} min"


def show_datetime(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def init_app(app: Flask) -> None:
    app.add_template_filter(ago, "ago")
    app.add_template_filter(show_datetime, "datetime")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(lambda values: [(value, value) for value in values], "as_options")
    from app.web.admin.routes import bp as admin_bp
    from app.web.api.routes import bp as api_bp
    from app.web.auth.routes import bp as auth_bp
    from app.web.channels.routes import bp as channels_bp
    from app.web.exceptions.routes import bp as exceptions_bp
    from app.web.health.routes import bp as health_bp
    from app.web.jobs.routes import bp as jobs_bp
    from app.web.orders.routes import bp as orders_bp
    from app.web.overview.routes import bp as overview_bp
    from app.web.routing.routes import bp as routing_bp
    from app.web.stock.routes import bp as stock_bp
    from app.web.suppliers.routes import bp as suppliers_bp

    for blueprint in (auth_bp, health_bp, overview_bp, stock_bp, suppliers_bp, jobs_bp, admin_bp, api_bp, exceptions_bp,
                      routing_bp, orders_bp, channels_bp):
        app.register_blueprint(blueprint)

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        log.info("csrf_rejected path=%s reason=%s", request.path, error.description)
        return _error_page(400, "Form expired", "The form had expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(403)
    def forbidden(_error):
        return _error_page(403, "Not allowed", "Your role does not give access to this page. Ask an admin if you need it.")

    @app.errorhandler(404)
    def not_found(_error):
        return _error_page(404, "Not found", "There is nothing at this address.")

    @app.errorhandler(405)
    def not_allowed(_error):
        return _error_page(405, "Not allowed", "That action is not available here.")

    @app.errorhandler(422)
    def refused(error):
        return _error_page(422, "Cannot do that", error.description)

    @app.errorhandler(413)
    def too_large(_error):
        return _error_page(413, "Too large", "The upload is larger than 20 MB.")

    @app.errorhandler(429)
    def throttled(error):
        return _error_page(429, "Too many attempts", f"Too many attempts: {error.description}. Wait a minute and try again.")

    @app.errorhandler(500)
    def server_error(_error):
        return _error_page(500, "Something went wrong", "Something went wrong on our side; it has been logged. Try again, or tell an admin if it keeps happening.")
