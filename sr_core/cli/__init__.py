"""Every command line of sr_core, one module each, all on the shell in common.py (exit 2 for
a usage error, one line and exit 1 for a failure, never a traceback, --version, --quiet):
sr-core-infer (infer.py), sr-core-eval (eval.py), sr-core-train (train.py), sr-core-data
(data.py)."""
