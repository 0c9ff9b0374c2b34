"""Neural network definitions (no training code, no device choices: the caller decides)."""
