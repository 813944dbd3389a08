"""The OpenAPI 3 description of the order API, served at /api/v1/openapi.json."""
from __future__ import annotations

_TEXT = {"type": ["string", "null"]}
_MONEY = {"type": ["string", "number", "null"], "description": "Decimal; shown and stored with two decimals.",
          "examples": ["19.90"]}

SHIP_TO = {"type": ["object", "null"], "properties": {name: _TEXT for name in (
    "name", "company", "address1", "address2", "city", "region", "postal_code", "country", "phone")},
    "description": "Required: country (ISO 3166-1 alpha-2), address1, city."}
LINE = {"type": "object", "required": ["sku", "qty"], "properties": {
    "external_id": _TEXT, "sku": {"type": "string", "description": "Our SKU, or the channel's when an alias maps it."},
    "title": _TEXT, "qty": {"type": "integer", "minimum": 1}, "unit_price": _MONEY}}
ORDER = {"type": "object", "required": ["external_id", "currency", "ship_to", "lines"], "properties": {
    "external_id": {"type": "string", "description": "Your id for the order; one order per channel and id."},
    "number": _TEXT, "placed_at": {"type": ["string", "null"], "format": "date-time"},
    "currency": {"type": "string", "examples": ["EUR"]}, "email": _TEXT, "test": {"type": "boolean"},
    "total": _MONEY, "service_level": {"type": "string", "enum": ["standard", "express"]},
    "status": {"type": "string", "enum": ["cancelled"], "description": "Send `cancelled` with the same external_id to cancel."},
    "ship_to": SHIP_TO, "lines": {"type": "array", "items": LINE, "minItems": 1}}}
ERROR = {"type": "object", "properties": {
    "error": {"type": "string"}, "message": {"type": "string"}, "exception_item": {"type": "integer"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "path": {"type": "string", "examples": ["lines[0].sku"]},
        "reason": {"type": "string", "examples": ["missing", "empty", "missing_sku", "bad_quantity", "unknown_sku",
                                                  "country_not_allowed", "test_order", "required"]},
        "message": {"type": "string"}}}}}}
ACCEPTED = {"type": "object", "properties": {"status": {"type": "string", "enum": ["accepted", "updated", "cancelled", "duplicate"]},
                                             "order": {"type": "object", "properties": {
                                                 "id": {"type": "integer"}, "channel": {"type": "string"},
                                                 "external_id": {"type": "string"}, "status": {"type": "string"}}}}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dropdesk order intake", "version": "1",
                 "description": "Send orders from a custom storefront or ERP. Each channel has its own bearer token "
                                "(set by an admin on the channel's page). Every request needs an Idempotency-Key: the "
                                "same key with the same body returns the original answer, with a different body 409."},
        "servers": [{"url": "/api/v1"}],
        "components": {"securitySchemes": {"channelToken": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Order": ORDER, "Error": ERROR, "Accepted": ACCEPTED}},
        "security": [{"channelToken": []}],
        "paths": {"/orders": {"post": {
            "operationId": "createOrder", "summary": "Take in one order in the canonical shape of CHANNELS.md",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                            "schema": {"type": "string", "maxLength": 100}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
            "responses": {
                "201": _json({"$ref": "#/components/schemas/Accepted"}, "Accepted: the order is stored and ready to route."),
                "200": _json({"$ref": "#/components/schemas/Accepted"}, "Known already (updated, cancelled or a duplicate)."),
                "400": _json({"$ref": "#/components/schemas/Error"}, "Not JSON, or no Idempotency-Key."),
                "401": _json({"$ref": "#/components/schemas/Error"}, "No or wrong bearer token."),
                "409": _json({"$ref": "#/components/schemas/Error"}, "Idempotency-Key reused with a different body."),
                "422": _json({"$ref": "#/components/schemas/Error"},
                             "Stored but held: the errors name each field; the order waits in the exception queue "
                             "until staff fix and replay it."),
            }}}},
    }
