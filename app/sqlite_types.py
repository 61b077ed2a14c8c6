"""Whether an object is one of sqlite3's, asked without importing sqlite3.

A site on MariaDB never opens SQLite, yet the checks that tell SQLite's
connections and errors apart run in every process. Importing sqlite3 for
them (the module and its C library) would cost each process about 0.9 MiB.
An object can only be an instance of a sqlite3 class once something has
imported sqlite3, so a process that has not imported it has none.
"""

from __future__ import annotations

import sys


def is_sqlite(obj: object, class_name: str) -> bool:
    """Whether ``obj`` is an instance of ``sqlite3.<class_name>`` (e.g. "Connection")."""
    module = sys.modules.get("sqlite3")
    return module is not None and isinstance(obj, getattr(module, class_name))
