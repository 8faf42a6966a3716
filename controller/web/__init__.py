"""The daemon's HTTP API: authorised requests, each one logged in the access log."""
