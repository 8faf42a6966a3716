"""Everything reccontrol keeps: calls, decisions, consent, recordings, audit.

Call logic sees only domain methods; SQL stays in :mod:`controller.store.sqlite`.
"""

from controller.store.sqlite import SchemaTooNewError, SqliteStore, StoreError
from controller.store.worker import StoreThread

__all__ = ["SchemaTooNewError", "SqliteStore", "StoreError", "StoreThread"]
