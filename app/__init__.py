"""Dropdesk: the operations console. `create_app` binds extensions, blueprints and CLI; nothing else."""
from __future__ import annotations

import logging

from flask import Flask

from app.config import ROOT, Config


def create_app(config: Config | None = None, **overrides) -> Flask:
    """Build the app from `config` (default: the environment); `overrides` set Flask keys for tests."""
    config = config or Config.from_environ()
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(config.flask_settings())
    app.config.update(overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # One line per outbound request (thousands per channel publish) drowns the event log; ours say what happened.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from app import cli, extensions, htmx, models, permissions, sandbox, web

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(ROOT / "migrations"),
        render_as_batch=True, compare_type=True, render_item=models.render_migration_type,
    )
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.rq.init_app(app)
    extensions.htmx.init_app(app)
    models.init_app(app)
    permissions.init_app(app)
    htmx.init_app(app)
    web.init_app(app)
    sandbox.init_app(app)  # only when SANDBOX is on
    cli.init_app(app)
    return app
