"""The Faust process of `engage worker`: the app and its consumer, the students' changelog
table, the stall watch and the metrics it serves. It hands every batch to the engine through
`streams.engine.contract` and nothing else."""
