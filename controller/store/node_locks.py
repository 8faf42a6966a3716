"""Which node a store speaks for, and the jobs only one node runs at a time (N1).

Several nodes share one PostgreSQL store. Each writes its name on the calls and the
recordings it makes, so that a restarted node adopts only its own calls and sweeps only
its own Asterisk's recordings. The store-wide jobs (the purge, the orphan sweep) are
taken by one node at a time; on SQLite the store is one node's, and they always are.
"""

from __future__ import annotations

from controller.store.parts import StorePart

DEFAULT_NODE = "local"
# The store-wide jobs, each with the number of its lock.
NODE_WIDE_JOBS = {"purge": 1, "orphan-sweep": 2}


def job_lock(job: str) -> int:
    """The advisory-lock number of a store-wide job (KeyError for an unknown job)."""
    return 0x7265_6363_0100 + NODE_WIDE_JOBS[job]


class NodeStore(StorePart):
    def take_node_wide(self, job: str) -> bool:
        """Takes ``job`` for this node unless another node runs it; False then. One
        process per SQLite store: always True there."""
        job_lock(job)
        return True

    def release_node_wide(self, job: str) -> None:
        """Gives ``job`` back (a node that dies gives it back with its connection)."""
        job_lock(job)
