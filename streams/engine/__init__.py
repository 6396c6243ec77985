"""The engine: decoding, scoring, the students' state, ClickHouse writes and the messages a
batch sends. `contract` is its typed interface; `local` runs it in the caller's process
(backfill, recompute, tests) and `remote` in a process of its own behind a local socket
(the worker), served by `server`."""
