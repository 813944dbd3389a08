"""Supplier adapters, one module per API style; parsing is delegated to app.domain.feeds."""
