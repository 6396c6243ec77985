"""Read views assembled from `sinks.queries` and the tenant file: explanations, exports and the
review queue, as the CLI and the worker's query route give them."""
