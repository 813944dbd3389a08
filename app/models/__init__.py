"""Persistence: one module per aggregate, thin."""
from __future__ import annotations

import sqlite3

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.models.audit import AuditEntry
from app.models.catalog import Product, SupplierOffer
from app.models.channel import Channel
from app.models.exceptions import ExceptionItem
from app.models.fulfilment import ChannelListing, SupplierOrder
from app.models.inbound import InboundPayload
from app.models.order import Order, OrderEvent, OrderLine
from app.models.reservation import Reservation, ReservationEvent
from app.models.routing import RoutingDecision, RoutingPreview
from app.models.rules import RoutingRule, RuleSet
from app.models.shipping import ShippingRate, ShippingService, ShippingSurcharge
from app.models.stock import ProductStock, StockAlert, StockChange, SupplierStock
from app.models.supplier import Supplier
from app.models.sync import SyncRun
from app.models.types import render_migration_type
from app.models.user import User

__all__ = ["render_migration_type", "AuditEntry", "Channel", "ChannelListing", "ExceptionItem", "InboundPayload", "Order", "OrderEvent", "OrderLine", "Product",
           "ProductStock", "Reservation", "ReservationEvent", "RoutingDecision", "RoutingPreview", "RoutingRule", "RuleSet", "ShippingRate", "ShippingService",
           "ShippingSurcharge", "StockAlert", "StockChange", "Supplier", "SupplierOffer", "SupplierOrder", "SupplierStock", "SyncRun", "User"]


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record):
    # Web, worker and cron write the same file: WAL lets readers go on while one writes. In WAL, synchronous=NORMAL
    # syncs at checkpoints instead of at every commit: a commit survives any process crash and the file never
    # corrupts; only a power loss or OS crash can undo the last commits (the reconciliation poll takes those in again).
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def init_app(app: Flask) -> None:
    from app.extensions import login_manager

    @login_manager.user_loader
    def load_user(user_id: str):
        from app.extensions import db

        return db.session.get(User, int(user_id))
