"""Import TensorFlow the way every component and the model server need it: legacy (tf-keras)
Keras, quiet logs. Importing this module does not import TensorFlow; calling :func:`tf` does.

TF 2.16 defaults to Keras 3, which tf.Transform, TFMA and ``hub.KerasLayer`` do not support, so
``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported. TensorFlow's C++ and
absl logs are quiet unless ``LINEAGE_VERBOSE`` (or the caller) asks for them.
"""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if not os.environ.get("LINEAGE_VERBOSE"):
    # TensorFlow's C++ start-up chatter (CUDA probing, factory registration) is not for users;
    # real failures still raise Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google(\.|$)")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(tensorflow|tensorflow_transform|apache_beam|tfx_bsl)(\.|$)")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflow_model_analysis(\.|$)")


def tf():
    """The tensorflow module, imported quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import tensorflow

    if not os.environ.get("LINEAGE_VERBOSE"):
        tensorflow.get_logger().setLevel(logging.ERROR)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover
            pass
    return tensorflow
