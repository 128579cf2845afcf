"""Serving: TF Serving's config format, a local TF-Serving-compatible server, a client for its
gRPC and REST protocols, and version-pinned rollback recorded in lineage.

Nothing here imports TensorFlow at import time: the server and the gRPC client import it (and
``tensorflow_serving.apis``, which embeds TensorFlow's protos) when they are used.
"""
