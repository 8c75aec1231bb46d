"""The one error type for bad input."""


class SpecError(ValueError):
    """Input that cannot be used: the message names the config key, spec key or file at fault.

    The command line turns it into one line and exit code 2; the workflow's jobs do the same
    in their logs. It is raised before any work starts, so nothing is written.
    """
