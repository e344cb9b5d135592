"""Properties of canonical msgpack (``ledger.canonical``; rules in ``docs/envelope.md``).

One value has exactly one encoding: encoding is deterministic and round-trips, and decoding
refuses every other byte string, including other valid msgpack encodings of the same value.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ledger import canonical
from ledger.errors import MalformedEncoding

MIN_INT = -(2**63)
MAX_INT = 2**64 - 1

scalars = (
    st.none()
    | st.booleans()
    | st.integers(MIN_INT, MAX_INT)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
maps = st.dictionaries(st.text(max_size=8), values, min_size=2, max_size=6)


def same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (``True == 1`` must not pass)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def nested_lists(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# -- round trip and determinism --------------------------------------------------------------


@given(values)
def test_decode_inverts_encode(value: Any) -> None:
    assert same(canonical.decode(canonical.encode(value)), value)


@given(values)
def test_encoding_is_stable_under_re_encoding(value: Any) -> None:
    data = canonical.encode(value)
    assert canonical.encode(canonical.decode(data)) == data


@given(maps, st.randoms(use_true_random=False))
def test_encoding_ignores_insertion_order(value: dict[str, Any], random: Any) -> None:
    items = list(value.items())
    random.shuffle(items)
    assert canonical.encode(dict(items)) == canonical.encode(value)


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 9), min_size=2, max_size=6))
def test_map_keys_are_sorted_by_utf8_bytes(value: dict[str, int]) -> None:
    decoded_keys = list(msgpack.unpackb(canonical.encode(value), raw=False))
    assert decoded_keys == sorted(value, key=lambda key: key.encode("utf-8"))


def test_utf8_order_is_not_code_point_order_of_utf16() -> None:
    # U+FF61 sorts before U+1F600 by UTF-8 bytes (ef bd a1 < f0 9f 98 80), as by code point,
    # but after it by UTF-16 code units (ff61 > d83d): implementations in UTF-16 languages beware.
    data = canonical.encode({"\U0001f600": 1, "\uff61": 2})
    assert list(msgpack.unpackb(data, raw=False)) == ["\uff61", "\U0001f600"]


# -- other encodings of the same value are refused ----------------------------------------


@given(maps, st.randoms(use_true_random=False))
def test_unsorted_map_keys_are_refused(value: dict[str, Any], random: Any) -> None:
    canonical_order = sorted(value, key=lambda key: key.encode("utf-8"))
    order = list(canonical_order)
    random.shuffle(order)
    assume(order != canonical_order)
    normalized = canonical.decode(canonical.encode(value))  # nested maps already sorted
    data = msgpack.packb({key: normalized[key] for key in order}, use_bin_type=True)
    with pytest.raises(MalformedEncoding):
        canonical.decode(data)


def long_forms(number: int) -> list[bytes]:
    """Every msgpack encoding of ``number`` except its shortest."""
    forms = []
    for code, fmt in (
        (0xCC, ">B"),
        (0xCD, ">H"),
        (0xCE, ">I"),
        (0xCF, ">Q"),
        (0xD0, ">b"),
        (0xD1, ">h"),
        (0xD2, ">i"),
        (0xD3, ">q"),
    ):
        try:
            forms.append(bytes([code]) + struct.pack(fmt, number))
        except struct.error:
            continue
    shortest = canonical.encode(number)
    return [form for form in forms if form != shortest]


@given(st.integers(MIN_INT, MAX_INT))
def test_long_form_integers_are_refused(number: int) -> None:
    forms = long_forms(number)
    # Only int 64 holds numbers below -2**31, only uint 64 those from 2**63: no longer form.
    if -(2**31) <= number < 2**63:
        assert forms
    for form in forms:
        for data in (form, b"\x91" + form, b"\x81\xa1n" + form):
            with pytest.raises(MalformedEncoding):
                canonical.decode(data)


@given(st.text(max_size=40))
def test_long_form_strings_are_refused(text: str) -> None:
    raw = text.encode("utf-8")
    shortest = canonical.encode(text)
    for form in (
        b"\xd9" + struct.pack(">B", len(raw)) + raw if len(raw) < 256 else None,
        b"\xda" + struct.pack(">H", len(raw)) + raw,
        b"\xdb" + struct.pack(">I", len(raw)) + raw,
    ):
        if form is not None and form != shortest:
            with pytest.raises(MalformedEncoding):
                canonical.decode(form)


@given(st.lists(st.integers(0, 9), max_size=15))
def test_long_form_array_headers_are_refused(items: list[int]) -> None:
    body = bytes(items)  # small non-negative ints are their own encoding
    for header in (
        b"\xdc" + struct.pack(">H", len(items)),
        b"\xdd" + struct.pack(">I", len(items)),
    ):
        with pytest.raises(MalformedEncoding):
            canonical.decode(header + body)


@given(values)
def test_trailing_bytes_are_refused(value: Any) -> None:
    with pytest.raises(MalformedEncoding):
        canonical.decode(canonical.encode(value) + b"\xc0")


def test_duplicate_map_keys_are_refused() -> None:
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\x82\xa1a\x01\xa1a\x01")


def test_bytes_map_keys_are_refused() -> None:
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\x81\xc4\x01a\x01")
    with pytest.raises(MalformedEncoding):
        canonical.encode({b"a": 1})


def test_raw_str_format_bytes_are_not_binary() -> None:
    # A byte string must be bin (c4); the old msgpack "raw" str form of invalid UTF-8 is refused.
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\xa1\xff")


# -- types and ranges outside the format -----------------------------------------------------


@given(st.floats(allow_nan=True))
def test_floats_are_refused(number: float) -> None:
    with pytest.raises(MalformedEncoding):
        canonical.encode(number)
    with pytest.raises(MalformedEncoding):
        canonical.encode({"time": number})
    packed = [b"\xcb" + struct.pack(">d", number)]
    with contextlib.suppress(OverflowError):  # unless it does not fit a float 32
        packed.append(b"\xca" + struct.pack(">f", number))
    for data in packed:
        with pytest.raises(MalformedEncoding):
            canonical.decode(data)


@given(st.integers(-128, 127), st.binary(max_size=20))
def test_ext_types_are_refused_by_decode(code: int, data: bytes) -> None:
    # ext 8 (c7 length type data) holds any type code -128..127 and any length up to 255.
    packed = b"\xc7" + bytes([len(data)]) + struct.pack(">b", code) + data
    with pytest.raises(MalformedEncoding):
        canonical.decode(packed)
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\x91" + packed)


def test_msgpack_timestamps_are_refused() -> None:
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\xd6\xff" + struct.pack(">I", 1_767_225_600))


def test_ext_types_are_refused_by_encode() -> None:
    with pytest.raises(MalformedEncoding):
        canonical.encode(msgpack.ExtType(1, b"x"))


@given(st.integers(MAX_INT + 1, 2**80) | st.integers(-(2**80), MIN_INT - 1))
def test_integers_outside_64_bits_are_refused(number: int) -> None:
    with pytest.raises(MalformedEncoding):
        canonical.encode(number)
    with pytest.raises(MalformedEncoding):
        canonical.encode([number])


def test_integer_range_boundaries() -> None:
    for number in (MIN_INT, MAX_INT):
        assert canonical.decode(canonical.encode(number)) == number
    assert canonical.encode(MAX_INT) == b"\xcf" + b"\xff" * 8
    assert canonical.encode(MIN_INT) == b"\xd3\x80" + bytes(7)


@pytest.mark.parametrize("value", [1.5, {1: "a"}, {"a": {2}}, object(), "\udc80"])
def test_other_types_are_refused_by_encode(value: Any) -> None:
    with pytest.raises(MalformedEncoding):
        canonical.encode(value)


# -- nesting ----------------------------------------------------------------------------------


def test_nesting_limit() -> None:
    # The top-level value is at depth 0; an element of a container at depth d is at depth d+1;
    # no value may be deeper than 32.
    assert canonical.decode(canonical.encode(nested_lists(32, 0))) == nested_lists(32, 0)
    assert canonical.encode(nested_lists(32, []))  # 33 lists; the innermost is at depth 32
    with pytest.raises(MalformedEncoding):
        canonical.encode(nested_lists(33, 0))
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\x91" * 33 + b"\x00")
    with pytest.raises(MalformedEncoding):
        canonical.decode(b"\x91" * 100_000 + b"\xc0")


# -- arbitrary input --------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_malformed(data: bytes) -> None:
    try:
        value = canonical.decode(data)
    except MalformedEncoding:
        return
    assert canonical.encode(value) == data


@given(values, st.data())
def test_mutated_encodings_decode_or_raise_malformed(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(canonical.encode(value))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    try:
        decoded = canonical.decode(bytes(encoded))
    except MalformedEncoding:
        return
    assert canonical.encode(decoded) == bytes(encoded)


loose_scalars = scalars | st.floats(allow_nan=False) | st.just(msgpack.Timestamp(1, 0))
loose_values = st.recursive(
    loose_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=3) | st.binary(max_size=2), children, max_size=4)
    ),
    max_leaves=20,
)


@given(loose_values)
def test_decode_accepts_exactly_what_re_encodes_to_the_same_bytes(value: Any) -> None:
    """Any msgpack (floats, bytes keys, unsorted maps, timestamps): accepted exactly when the
    full re-encoding reproduces it, whichever path ``decode`` takes inside."""
    data = msgpack.packb(value, use_bin_type=True)
    unpacked = msgpack.unpackb(data, raw=False, strict_map_key=False)
    try:
        expected = canonical.encode(unpacked) == data
    except MalformedEncoding:
        expected = False
    if expected:
        assert same(canonical.decode(data), unpacked)
    else:
        with pytest.raises(MalformedEncoding):
            canonical.decode(data)


def test_nesting_limit_counts_maps_too() -> None:
    deep: Any = 0
    for _ in range(33):
        deep = {"a": deep}
    with pytest.raises(MalformedEncoding):
        canonical.decode(msgpack.packb(deep))
    assert canonical.decode(msgpack.packb(deep["a"])) == deep["a"]


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(MalformedEncoding):
        canonical.decode("c0")  # type: ignore[arg-type]


# -- times ------------------------------------------------------------------------------------


@given(st.integers(0, 2**62))
def test_micros_round_trip(value: int) -> None:
    try:
        moment = canonical.from_micros(value)
    except (OverflowError, ValueError):
        assume(False)
        return
    assert canonical.micros(moment) == value


def test_micros_refuses_naive_datetimes() -> None:
    from datetime import datetime

    with pytest.raises(ValueError):
        canonical.micros(datetime(2026, 1, 1))
