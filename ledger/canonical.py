"""Canonical msgpack: one byte string for one value, so hashes and signatures are stable.

Rules (``docs/envelope.md`` is the normative text):

- types: nil, bool, int (-2**63 .. 2**64-1), str (UTF-8), bin, array, map; no floats, no ext;
- every integer, string, binary, array and map header in its shortest msgpack form;
- map keys are str, unique, sorted by their UTF-8 bytes;
- times are integer microseconds since the Unix epoch, UTC (see :func:`micros`).

Decoding accepts exactly the bytes that encoding would produce: it decodes, re-encodes and
compares, so any non-canonical input (long-form integers, unsorted or duplicate keys, floats,
trailing bytes) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgpack

from ledger.errors import MalformedEncoding

# Deep nesting is never legitimate in our formats; bounding it keeps decoding cheap and safe.
MAX_DEPTH = 32
MAX_INT = 2**64 - 1
MIN_INT = -(2**63)


def _normalize(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedEncoding(f"nesting deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, bool | str | bytes):
        return value
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise MalformedEncoding(f"integer {value} outside the 64-bit range")
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, msgpack.ExtType):  # a namedtuple: must not pass as an array
        raise MalformedEncoding("msgpack ext types are not allowed")
    if isinstance(value, list | tuple):
        return [_normalize(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise MalformedEncoding(f"map key {key!r} is not text")
        ordered = sorted(value, key=lambda key: key.encode("utf-8"))
        return {key: _normalize(value[key], depth + 1) for key in ordered}
    if isinstance(value, float):
        raise MalformedEncoding("floats are not allowed")
    raise MalformedEncoding(f"type {type(value).__name__} cannot be encoded")


def encode(value: Any) -> bytes:
    """The canonical msgpack bytes of ``value``."""
    try:
        return msgpack.packb(_normalize(value, 0), use_bin_type=True)  # type: ignore[no-any-return]
    except (OverflowError, ValueError, TypeError) as error:
        raise MalformedEncoding(f"cannot encode: {error}") from error


def _no_ext(code: int, data: bytes) -> Any:
    raise MalformedEncoding(f"msgpack ext type {code} is not allowed")


_SCALARS = frozenset({type(None), bool, int, str, bytes})


def _already_normal(value: Any, depth: int) -> bool:
    """True when ``_normalize(value)`` would return ``value`` unchanged: only the plain types,
    text keys already in UTF-8 order (code point order is UTF-8 byte order), no deeper than
    ``MAX_DEPTH``. A quick check that builds nothing; False sends the caller the slow way."""
    kind = type(value)
    if kind is dict:
        keys = list(value)
        try:
            # Keys are str or bytes (strict_map_key); sorting a mix raises, so a sorted list
            # is all of one type, and the first key tells which.
            if keys != sorted(keys) or (keys and type(keys[0]) is not str):
                return False
        except TypeError:
            return False
        children: Any = value.values()
    elif kind is list:
        children = value
    else:
        return kind in _SCALARS and depth <= MAX_DEPTH
    depth += 1
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            if not _already_normal(child, depth):
                return False
        elif kind not in _SCALARS or depth > MAX_DEPTH:
            return False
    return True


def decode(data: bytes) -> Any:
    """Decode canonical msgpack; any other encoding of the same value is refused."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedEncoding("expected bytes")
    data = bytes(data)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_no_ext,
        )
    except MalformedEncoding:
        raise
    except msgpack.StackError as error:  # its message is empty
        raise MalformedEncoding(f"nesting deeper than {MAX_DEPTH}") from error
    except Exception as error:  # msgpack raises many types for bad input
        raise MalformedEncoding(f"not msgpack: {error}") from error
    # The common case, canonical bytes, without rebuilding the value: when it is already
    # normal, ``encode(value)`` is exactly ``packb(value)``. Anything else takes the full path,
    # which gives the same answer and the same error as always.
    if _already_normal(value, 0) and msgpack.packb(value, use_bin_type=True) == data:
        return value
    if encode(value) != data:
        raise MalformedEncoding("not canonical msgpack (see docs/envelope.md, Encoding)")
    return value


def is_integer(value: object) -> bool:
    """True for a msgpack integer, never a bool: ``True == 1`` in Python, and ``c3`` (true) is
    not ``01`` (1). Every check where a format says "integer" uses this (``docs/envelope.md``
    §1.1), so no field has a second spelling that a strict verifier elsewhere would refuse."""
    return isinstance(value, int) and not isinstance(value, bool)


def micros(moment: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch, UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(value // 1_000_000, tz=UTC).replace(microsecond=value % 1_000_000)
