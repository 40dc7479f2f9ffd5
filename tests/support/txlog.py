"""Transaction-log and caller fixtures: owned by the caller work."""
