"""Connecting through PgBouncer in transaction mode (``DATABASE_POOLER=pgbouncer``).

Behind a transaction-mode pooler, consecutive transactions of one client
connection may run on different server connections, so nothing may outlive a
transaction on the server:

- Prepared statements. asyncpg's statement cache and the SQLAlchemy dialect's
  are off, and every statement is prepared under a unique name, so a server
  connection never meets a name twice (the recipe of SQLAlchemy's asyncpg
  dialect documentation). Each statement is parsed again: the price of
  transaction pooling with asyncpg.
- Session state. PgBouncer 1.18 refuses startup parameters it does not track
  (``search_path``, ``statement_timeout``), so the connection settings are
  applied as transaction-local settings when each transaction begins
  instead: one ``SELECT set_config(...)`` per transaction.

SQLAlchemy's own pool stays in front of PgBouncer: it saves a connect and
startup exchange per request and bounds each worker's client connections,
while PgBouncer bounds the server connections. The liveness ping on checkout
works through it (there it is SQLAlchemy's own ping, in a transaction).
"""

import uuid

from sqlalchemy import Connection, event, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine


def unique_statement_name() -> str:
    """A prepared statement name that no server connection has seen."""
    return f"__asyncpg_{uuid.uuid4().hex}__"


# Driver arguments for a transaction-mode pooler.
TRANSACTION_POOLER_CONNECT_ARGS: dict[str, object] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": unique_statement_name,
}


def apply_per_transaction(engine: AsyncEngine, settings: dict[str, str]) -> None:
    """Set ``settings`` as every transaction begins, in one statement.

    ``SELECT set_config(name, value, true), ...``: each setting is local to
    the transaction, and names and values travel as bound parameters.
    """
    statement = select(*(func.set_config(name, value, true()) for name, value in settings.items()))

    @event.listens_for(engine.sync_engine, "begin")
    def _apply(connection: Connection) -> None:
        connection.execute(statement)
