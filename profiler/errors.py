"""Errors that reach the user as one line and exit status 2 (bad input)."""


class UsageError(Exception):
    """Bad input: a spec, a path, a flag. The CLI prints it on one line and exits 2."""
