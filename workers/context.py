"""One app per worker process.

`flask --app workers.context rq worker|cron` loads this module: the app is built once per
process, and Flask-RQ runs each job (in its work-horse subprocess) inside its app context.
The periodic schedule is registered here, so `app/` never imports `workers/`.
"""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, has_app_context

from app import create_app
from workers import cron

app = create_app()
cron.register(app.extensions["rq"])


@contextmanager
def app_context():
    """The current app context, or this process's app when a job runs outside one."""
    if has_app_context():
        yield current_app
    else:
        with app.app_context():
            yield app
