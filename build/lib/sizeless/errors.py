"""One exception type for everything a user can get wrong.

The CLI prints its message on one line and exits non-zero; the Python API lets it propagate.
Messages say what is wrong *and* how to fix it.
"""


class SizelessError(Exception):
    """A user-facing error: bad input, a foreign file, an unsupported size."""


class UnsupportedSize(SizelessError):
    """A method cannot serve this size (e.g. a width that is not a multiple of the template width).

    Benchmarks report these as "n/a" instead of failing; every other error stops them.
    """


class Diverged(SizelessError):
    """Training hit a non-finite loss. A learning-rate sweep records it as that rate's result (too high) instead
    of stopping; everywhere else it stops the run like any error."""


def require(module: str, extra: str) -> None:
    """Import an optional dependency up front, so a missing one is one line naming the extra to install."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as err:
        raise SizelessError(f"this needs {module} ({err}): pip install 'sizeless[{extra}]'") from None
