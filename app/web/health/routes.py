"""Liveness and readiness probes (no login: load balancers call them)."""
from flask import Blueprint, jsonify

from app.services import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = health.readiness()
    ready = all(check.ok for check in checks)
    body = {"status": "ready" if ready else "not ready",
            "checks": {check.part: {"ok": check.ok, "detail": check.detail} for check in checks}}
    if not ready:
        body["failing"] = [check.part for check in checks if not check.ok]
    return jsonify(body), 200 if ready else 503
