"""One exception type for everything a user can get wrong.

The CLI prints its message on one line and exits non-zero; the Python API lets it propagate.
Messages say what is wrong *and* how to fix it.
"""


class SizelessError(Exception):
    """A user-facing error: bad input, a foreign file, an unsupported size."""
