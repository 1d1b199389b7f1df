"""The one exception type meant for users.

Anything raised as ``GannormError`` is a problem with the user's input (a config value, a
path, a file); the CLI prints it on one line and exits non-zero. Every other exception is a
bug and keeps its traceback.
"""


class GannormError(Exception):
    """A user-facing error: the message names the problem and the fix."""


class DivergedError(GannormError):
    """Training stopped on a non-finite loss; studies record such a run as diverged."""
