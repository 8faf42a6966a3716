"""Everything reccontrol keeps: calls, decisions, consent, recordings, audit.

Call logic sees only domain methods; SQL stays in this package: :class:`SqliteStore`
(:mod:`controller.store.sqlite`) is assembled from one part per domain, each in its own
module (see :mod:`controller.store.parts`). The same parts run on PostgreSQL for several
nodes (:mod:`controller.store.postgresql_store`), opened by
:func:`controller.store.opening.open_configured` from the ``store`` section.
"""

from controller.store.sqlite import SchemaTooNewError, SqliteStore, StoreError
from controller.store.worker import StoreThread

__all__ = ["SchemaTooNewError", "SqliteStore", "StoreError", "StoreThread"]
