"""The headless trainer behind sr-core-train (CPU, one GPU, or DDP through torchrun)."""
