"""The tf.Transform preprocessing of the restaurant-review pipeline.

Runs once over the training split (analysis: vocabularies, means) and then, unchanged, inside
every exported model's serving signature.
"""

import tensorflow as tf
import tensorflow_transform as tft


def preprocessing_fn(inputs):
    return {
        # The Hub text module tokenizes inside its own graph: pass whole sentences on.
        "text": tf.strings.strip(inputs["text"]),
        "cuisine": tft.compute_and_apply_vocabulary(inputs["cuisine"], num_oov_buckets=1,
                                                    vocab_filename="cuisine"),
        "price_level": tft.scale_to_z_score(tf.cast(inputs["price_level"], tf.float32)),
        "label": inputs["label"],
    }
