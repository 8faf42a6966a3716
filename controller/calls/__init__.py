"""Call flows: one pure state machine per call, and the manager that feeds it ARI events
and carries out the commands it returns."""
