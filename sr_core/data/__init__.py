"""Datasets: the NIH folder layout and its files, the NIH importer, torch datasets,
transforms and synthetic phantoms.

Submodules: ``layout`` (parsers/writers, no torch), ``datasets`` (torch Datasets),
``transforms``, ``normalization`` (the mean/std the models are trained with), ``nih_import``
and ``cli`` (sr-core-data), ``phantoms``. Import what you need from them; this package
imports none of them eagerly, so loading ground truth from ``sr_core.data.layout`` never
pulls in torch.
"""
