"""The schema comes only from migrations, on SQLite and PostgreSQL alike."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.models.types import render_migration_type


def script_directory(app):
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def test_migrations_have_exactly_one_head(app):
    assert len(script_directory(app).get_heads()) == 1


def test_upgrade_from_empty_reaches_head_and_creates_every_table(app):
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(sa.inspect(connection).get_table_names())
    assert current == script_directory(app).get_current_head()
    assert set(db.metadata.tables) <= tables


def test_migrations_match_the_models_exactly(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_item": render_migration_type})
        drift = compare_metadata(context, db.metadata)
    assert drift == [], f"models and migrations differ; run `flask db migrate`: {drift}"


def test_downgrade_to_nothing_and_back_up_again(app):
    downgrade(revision="base")
    with db.engine.connect() as connection:
        assert not set(db.metadata.tables) & set(sa.inspect(connection).get_table_names())
    upgrade()
    with db.engine.connect() as connection:
        assert set(db.metadata.tables) <= set(sa.inspect(connection).get_table_names())
