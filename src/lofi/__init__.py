"""lofi: an open-source lo-fi music studio."""

__version__ = "0.1.0"
