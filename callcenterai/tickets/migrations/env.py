"""Alembic environment: run on the connection :mod:`callcenterai.tickets.store` hands over."""

from alembic import context

from callcenterai.tickets.schema import Base

VERSION_TABLE = "callcenterai_alembic_version"  # not MLflow's, should both share a database

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
)
with context.begin_transaction():
    context.run_migrations()
