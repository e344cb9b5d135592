"""A plain-Python SM2 verifier over any curve, written from GB/T 32918.2 §7 only.

Slow and for tests only: an implementation independent of gmalglib, OpenSSL and GmSSL that
also runs the standard's annex example, whose curve no library here accepts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

Point = tuple[int, int] | None


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    def add(self, one: Point, two: Point) -> Point:
        if one is None:
            return two
        if two is None:
            return one
        if one[0] == two[0] and (one[1] + two[1]) % self.p == 0:
            return None
        if one == two:
            slope = (3 * one[0] * one[0] + self.a) * pow(2 * one[1], -1, self.p)
        else:
            slope = (two[1] - one[1]) * pow(two[0] - one[0], -1, self.p)
        x = (slope * slope - one[0] - two[0]) % self.p
        return x, (slope * (one[0] - x) - one[1]) % self.p

    def multiply(self, k: int, point: Point) -> Point:
        result: Point = None
        while k:
            if k & 1:
                result = self.add(result, point)
            point = self.add(point, point)
            k >>= 1
        return result


SM2_CURVE = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def z_a(curve: Curve, signer_id: bytes, x: int, y: int) -> bytes:
    def f(v: int) -> bytes:
        return v.to_bytes(32, "big")

    entl = (len(signer_id) * 8).to_bytes(2, "big")
    return sm3(entl + signer_id + f(curve.a) + f(curve.b) + f(curve.gx) + f(curve.gy) + f(x) + f(y))


def verify(
    curve: Curve, signer_id: bytes, public_key: bytes, message: bytes, signature: bytes
) -> bool:
    """GB/T 32918.2 §7.1 B1-B7 with the encodings of docs/envelope.md §3.2."""
    if len(public_key) != 65 or public_key[0] != 4 or len(signature) != 64:
        return False
    x, y = int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:], "big")
    if x >= curve.p or y >= curve.p or (y * y - x**3 - curve.a * x - curve.b) % curve.p:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (1 <= r < curve.n and 1 <= s < curve.n):  # B1, B2
        return False
    t = (r + s) % curve.n
    if t == 0:  # B5
        return False
    e = int.from_bytes(sm3(z_a(curve, signer_id, x, y) + message), "big")  # B3, B4
    point = curve.add(curve.multiply(s, (curve.gx, curve.gy)), curve.multiply(t, (x, y)))
    return point is not None and (e + point[0]) % curve.n == r  # B6, B7
