"""Serving: TF Serving's config format, a ModelService client and version-pinned rollback
recorded in lineage. None of it imports TensorFlow; the local server that loads SavedModels is
``components.server`` (``lineage serve``).
"""
