"""ml2mc: migrate PyTorch multi-label classifiers to multi-class, and prove it."""

from migrate.version import __version__

__all__ = ["__version__", "main"]


def main() -> None:
    """The `ml2mc` command. The CLI is imported inside the interrupt handler: Ctrl-C while
    the modules load (nothing is read or written yet) exits 130 without a traceback."""
    try:
        from migrate.cli import main as run_cli
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as error:
        # An interrupt inside a class body's `__set_name__` (libcst's dataclasses) reaches us
        # wrapped in a RuntimeError: it is still Ctrl-C, not a broken install.
        from migrate.interrupts import find_interrupt

        if find_interrupt(error) is not None:
            raise SystemExit(130) from None
        raise
    run_cli()
