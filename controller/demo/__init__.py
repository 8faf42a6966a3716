"""The demo, and the harness the integration tests share with it: a sandbox Asterisk,
a config that points at it, the daemon, and scripted calls."""
