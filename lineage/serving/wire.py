"""TF Serving's ModelService messages, wire-compatible and TensorFlow-free.

``tensorflow_serving.apis`` imports all of TensorFlow (about 3 s) because its messages embed
TensorFlow's protos. The ModelService calls rollback needs (GetModelStatus,
HandleReloadConfigRequest) use only a few small messages, so they are declared here with TF
Serving's field numbers and types (enums as their varint values) and built at run time with
protobuf's own descriptor machinery. The config message is TF Serving's own
(``tensorflow_serving.config.model_server_config_pb2``, which needs no TensorFlow).
"""

from __future__ import annotations

import functools
from typing import Any, Dict

__all__ = ["messages", "MODEL_SERVICE"]

MODEL_SERVICE = "/tensorflow.serving.ModelService/"



@functools.lru_cache(maxsize=1)
def messages() -> Dict[str, Any]:
    """Message classes: ModelSpec, StatusProto, GetModelStatusRequest/Response,
    ModelVersionStatus, ReloadConfigRequest/Response."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf import wrappers_pb2  # noqa: F401  (registers Int64Value)
    from tensorflow_serving.config import model_server_config_pb2  # noqa: F401  (TensorFlow-free)

    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="lineage/serving/tfs_wire.proto",
                                              package="lineage_tfs_wire", syntax="proto3")
    file.dependency.extend(["google/protobuf/wrappers.proto",
                            "tensorflow_serving/config/model_server_config.proto"])

    def message(name: str, *fields: tuple) -> None:
        m = file.message_type.add(name=name)
        for fname, number, ftype, type_name, repeated in fields:
            f = m.field.add(name=fname, number=number, type=ftype,
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = type_name

    S, I32, I64, M = F.TYPE_STRING, F.TYPE_INT32, F.TYPE_INT64, F.TYPE_MESSAGE
    # tensorflow_serving/apis/model.proto, status.proto, get_model_status.proto, model_management.proto
    message("ModelSpec", ("name", 1, S, None, False), ("version", 2, M, ".google.protobuf.Int64Value", False),
            ("signature_name", 3, S, None, False), ("version_label", 4, S, None, False))
    message("StatusProto", ("error_code", 1, I32, None, False), ("error_message", 2, S, None, False))
    message("GetModelStatusRequest", ("model_spec", 1, M, ".lineage_tfs_wire.ModelSpec", False))
    message("ModelVersionStatus", ("version", 1, I64, None, False), ("state", 2, I32, None, False),
            ("status", 3, M, ".lineage_tfs_wire.StatusProto", False))
    message("GetModelStatusResponse",
            ("model_version_status", 1, M, ".lineage_tfs_wire.ModelVersionStatus", True))
    message("ReloadConfigRequest", ("config", 1, M, ".tensorflow.serving.ModelServerConfig", False))
    message("ReloadConfigResponse", ("status", 1, M, ".lineage_tfs_wire.StatusProto", False))
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
        classes = message_factory.GetMessageClassesForFiles([file.name], pool)
    except KeyError:
        classes = message_factory.GetMessages([file], pool=pool)
    return {name.split(".", 1)[1]: cls for name, cls in classes.items()}
