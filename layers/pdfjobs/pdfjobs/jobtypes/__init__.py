"""Job types: each names its settings model, the inputs it accepts, and its engine steps.

A new job type is a module here plus one line in `registry.py`; the pipeline does not change.
"""
