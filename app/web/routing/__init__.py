"""Routing rules: rule sets, the rule editor, tests against orders, preview impact."""
