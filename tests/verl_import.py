"""Importing verl without its heavy stack (shared by the tests and benches).

The importer lives in :mod:`postcouple.reference.verl_import`, which the
benches use too; the tests import it from here as before.
"""

from __future__ import annotations

from postcouple.reference.verl_import import import_verl

__all__ = ["import_verl"]
