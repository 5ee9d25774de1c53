"""The few exception classes users may catch.

Each subclasses `SymgradError` and the built-in exception that fits, so that
`except TypeError` and `except symgrad.SymgradError` both work.
"""


class SymgradError(Exception):
    """Base class of every exception symgrad raises on purpose."""


class TracingError(SymgradError, TypeError):
    """A Python construct that cannot be captured in a static graph."""


class UnsupportedPrimitiveError(SymgradError, NotImplementedError):
    """A primitive with no lowering, printing or derivative for what was asked."""


class CompileError(SymgradError, RuntimeError):
    """LLVM refused a module symgrad generated (a bug: please report it)."""
