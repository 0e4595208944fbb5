"""Lightning callbacks and the run logger: run directory, clock, predictions, gradient flow,
LM samples."""
