"""Engines: pure functions from a local PDF file to JSON-ready results, run in isolated workers."""
