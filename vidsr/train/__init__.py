"""Training code, kept apart from the model definitions in ``vidsr.models``."""
