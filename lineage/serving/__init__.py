"""Serving: TF Serving's config format, a ModelService client, version-pinned rollback recorded
in lineage, and (``server/``) the local TF-Serving-compatible model server.

Only ``server/`` imports TensorFlow, lazily, when a server starts: config, wire, client and
rollback stay TensorFlow-free so ``lineage rollback`` starts fast.
"""
