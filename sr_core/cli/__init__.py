"""Command-line tools: sr-core-infer and sr-core-eval."""
