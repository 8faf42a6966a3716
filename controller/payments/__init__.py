"""Card payments kept out of recordings (M1-M3): the secure IVR that collects card
data as DTMF and sends it over HTTPS, never to a log, a file or the store."""
