"""Generated protobuf modules: committed, never edited by hand.

Regenerate with ``python scripts/gen_proto.py`` (``--check`` reports stale files).

Every module registers in :data:`POOL`, a private descriptor pool, not in protobuf's
default pool: the Sigil SDK registers a different ``sigil/v1/generation_ingest.proto``
(same name and package, fewer fields) in the default pool, and both must load in one
process. The well-known types the schema imports are preloaded here.
"""

from google.protobuf import descriptor_pool, struct_pb2, timestamp_pb2

POOL = descriptor_pool.DescriptorPool()
for _wkt in (struct_pb2, timestamp_pb2):
    POOL.AddSerializedFile(_wkt.DESCRIPTOR.serialized_pb)
del _wkt
