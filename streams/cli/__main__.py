"""`python -m streams.cli`: the same program as the `engage` script."""

from streams.cli.commands import run

run()
