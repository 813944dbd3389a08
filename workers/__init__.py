"""Background work: RQ job functions, the periodic schedule, and the worker's app."""
