"""Access to recordings, sheets and data-subject requests: who may, and the log of it
(S1, S2, C5)."""
