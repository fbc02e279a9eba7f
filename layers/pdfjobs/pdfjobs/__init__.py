"""PDF Jobs: an asynchronous PDF-processing API (domain, adapters and engines shared by every function)."""

__version__ = "0.1.0"
