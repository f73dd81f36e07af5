"""Protobuf wire-format pieces for encoders that frame messages by hand (format-neutral).

Building a message field by field from Python costs a call into the protobuf runtime per field;
joining pre-encoded pieces costs one ``bytes`` join. Writers use these to emit exactly the bytes
``SerializeToString`` would (fields in number order, proto3 defaults left out), so a parse of
their output equals the message they stand for. See ``gateway.formats.otlp.encode``.
"""

from __future__ import annotations

import struct
from typing import Final

VARINT: Final = 0
FIXED64: Final = 1
LEN: Final = 2
FIXED32: Final = 5

SMALL_VARINTS: Final = tuple(bytes((n,)) for n in range(128))  # the varints of 0..127
_UINT64: Final = 0xFFFF_FFFF_FFFF_FFFF
_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack
_double = struct.Struct("<d").pack


def varint(n: int) -> bytes:
    """``n`` (0 <= n < 2**64) as a base-128 varint."""
    if n < 128:
        return SMALL_VARINTS[n]
    if n < 0x4000:  # two bytes: most attribute values and spans
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def signed_varint(n: int) -> bytes:
    """An int32/int64 field's varint: a negative value is its 64-bit two's complement."""
    return varint(n & _UINT64) if n < 0 else varint(n)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def fixed64(n: int) -> bytes:
    return _fixed64(n)


def fixed32(n: int) -> bytes:
    return _fixed32(n)


def double(x: float) -> bytes:
    return _double(x)


def length_delimited(field_tag: bytes, data: bytes) -> bytes:
    """A length-delimited field (a string, bytes or an embedded message) with its tag."""
    return field_tag + varint(len(data)) + data
