"""Training: the worker process, its trainers and event protocol, runs, checkpoints and Modal."""
