"""Retention: which recordings, sheets and access-log entries have expired, and the
crash-safe purge that deletes them (T1-T4)."""
