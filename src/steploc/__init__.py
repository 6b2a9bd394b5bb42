"""steploc: zero-shot localisation of procedure steps in long videos."""

__version__ = "0.1.0"
