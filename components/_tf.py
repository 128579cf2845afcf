"""TensorFlow, imported as every component needs it (see :mod:`lineage._tf`)."""

from lineage._tf import tf  # noqa: F401  (also sets TF_USE_LEGACY_KERAS before TensorFlow loads)

__all__ = ["tf"]
