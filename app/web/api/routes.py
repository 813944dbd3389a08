"""Machine endpoints (no session, no CSRF): suppliers push stock here; channels will send orders."""
from flask import Blueprint, jsonify, request

from app.extensions import csrf
from app.services import pushes

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.post("/suppliers/<code>/stock-push")
def supplier_stock_push(code: str):
    answer = pushes.receive_push(code, request.get_data(cache=False), request.headers)
    return jsonify(answer.body), answer.status
