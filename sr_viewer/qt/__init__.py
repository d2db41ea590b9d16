"""The Qt side of the viewer: it draws the state (sr_viewer.state) and forwards intent.

Imports Qt and pyqtgraph, never torch: the model is loaded on a worker thread (jobs.py).
"""
