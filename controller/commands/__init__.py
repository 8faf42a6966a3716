"""``reccontrol`` subcommands beyond the daemon: purge, audit, data subjects, sheets and
recordings, access credentials, generated documents. Heavy modules are imported inside
each command, so ``reccontrol --help`` stays quick."""
