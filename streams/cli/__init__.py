"""`engage`, the engine's command line: one module per group of commands."""
