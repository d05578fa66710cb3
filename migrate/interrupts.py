"""Finding a Ctrl-C that another exception swallowed. Imports nothing heavy: `migrate.main`
uses it while the engine (and libcst) may still be loading."""

from __future__ import annotations


def find_interrupt(error: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt behind `error` (itself, its context or its cause), if any. An
    interrupt that lands inside a `finally` or a class body's `__set_name__` reaches the
    caller as another exception (libcst's KeyError, Python's RuntimeError)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__context__ or error.__cause__
    return None
