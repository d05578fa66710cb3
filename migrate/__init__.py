"""ml2mc: migrate PyTorch multi-label classifiers to multi-class, and prove it."""

__version__ = "0.1.0"


def main() -> None:
    """The `ml2mc` command. The CLI is imported inside the interrupt handler: Ctrl-C while
    the modules load (nothing is read or written yet) exits 130 without a traceback."""
    try:
        from migrate.cli import main as run_cli
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    run_cli()
