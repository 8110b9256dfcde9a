"""The ``aicmo`` command line: the typer app, its commands, console rendering and the demo.

Nothing else in the package imports this part; it imports the flows and tasks it drives.
"""

from aicmo.cli.app import app, main

__all__ = ["app", "main"]
