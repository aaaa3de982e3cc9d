"""The one exception type the command line turns into a one-line message and exit status 2."""


class UsageError(Exception):
    """Bad input from the user (malformed grid, bad range, unknown parameter, missing option).

    Raised anywhere below the command line so that every such mistake is reported the same way:
    one line on stderr, exit status 2, before any point runs.
    """
