"""FastAGI: dialplan-only sites reach the daemon over ``AGI(agi://…)`` instead of
``Stasis()``. A pure wire format (:mod:`.protocol`, :mod:`.commands`), the asyncio server
and its sessions (:mod:`.server`, :mod:`.session`) and the scripts (:mod:`.inbound`)."""
