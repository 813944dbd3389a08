"""Reading list parameters (filter, sort, page) from the URL, the same way on every index page."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request


def list_args(*filters: str, default_sort: str) -> dict[str, str]:
    """The filters, `sort` (prefix `-` for descending) and `after` cursor from the query string."""
    args = {name: request.args.get(name, "").strip() for name in filters}
    args["sort"] = request.args.get("sort", default_sort).strip() or default_sort
    args["after"] = request.args.get("after", "").strip()
    return args


def url_with(args: dict[str, str], **changes: str | None) -> str:
    """The current list URL with some parameters changed (None or '' drops one)."""
    merged = {**args, **changes}
    query = urlencode({k: v for k, v in merged.items() if v})
    return request.path + ("?" + query if query else "")
