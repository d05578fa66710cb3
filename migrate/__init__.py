"""ml2mc: migrate PyTorch multi-label classifiers to multi-class, and prove it."""

__version__ = "0.1.0"
