"""Simulated suppliers and storefront for demos and tests; mounted only when SANDBOX is on (never in production).

The sandbox suppliers and storefront arrive with the sync and intake issues.
"""
