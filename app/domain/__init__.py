"""Pure business rules: standard library only, decisions as data."""
