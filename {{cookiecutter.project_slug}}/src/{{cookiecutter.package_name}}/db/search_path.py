"""Switching schema on a pooled connection, safely."""

from sqlalchemy import Select, func, select, true


def set_local_search_path(schema: str) -> Select[tuple[str]]:
    """``set_config('search_path', quote_ident(schema), true)``.

    The schema travels as a bound parameter and is quoted by the server, and
    the setting ends with the transaction: nothing stays on the connection for
    the pool's next user.
    """
    return select(func.set_config("search_path", func.quote_ident(schema), true()))
