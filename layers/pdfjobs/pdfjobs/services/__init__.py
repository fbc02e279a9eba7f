"""Use cases: what the API and the pipeline do, independent of how they are invoked."""
