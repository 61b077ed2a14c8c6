"""Alembic environment for Flask-Migrate: the app's engine and the models' metadata."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from app.migration_lock import migration_lock
from app.models import UTCDateTime
from app.search_schema import is_search_object

config = context.config
# Keep the app's own loggers working while Alembic configures its own.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
# Flask-SQLAlchemy 3 exposes the engine directly (db.get_engine() is deprecated).
engine = target_db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_, obj, autogen_context):
    """Write UTCDateTime columns as plain DateTime, so revisions don't import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def include_name(name, type_, parent_names):
    """Leave the full-text index out of the comparison: the models do not declare it."""
    return not is_search_object(name, type_)


def skip_empty_revisions(context, revision, directives):
    """`flask db migrate` with no model change writes no file."""
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_revisions)
    options.setdefault("render_item", render_item)
    options.setdefault("include_name", include_name)
    # Every node of a cluster may run `flask db upgrade` at once: the lock lets one
    # in at a time, and Alembic reads the current revision only inside it.
    timeout = current_app.config["MIGRATION_LOCK_TIMEOUT"]
    with engine.connect() as connection, migration_lock(connection, timeout, logger):
        context.configure(connection=connection, target_metadata=target_db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
