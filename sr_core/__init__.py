"""sr_core: the SR engine (models, kernels, I/O, data, evaluation, training). Never imports Qt."""

__version__ = "0.1.0"
