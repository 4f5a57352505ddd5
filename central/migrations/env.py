"""Alembic environment for sitegate-central: always run on a connection handed over by
``central.migrate`` (no alembic.ini, no URL here)."""
from alembic import context

from central.tables import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection,
                  target_metadata=config.attributes.get("metadata", metadata),
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
