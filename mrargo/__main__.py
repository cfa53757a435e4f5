"""``python -m mrargo`` is the ``mrargo`` command."""

from mrargo.cli import console

console()
