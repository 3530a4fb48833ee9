"""Body digests the front checks while a body streams through it.

`BodyChecker` is fed every chunk of a (decoded) body and, at the end, compares:
  * x-amz-content-sha256 (hex SHA-256)      -> 400 XAmzContentSHA256Mismatch
  * Content-MD5 (base64 of the binary MD5)  -> 400 BadDigest
  * x-amz-checksum-<alg> (base64, S3 mode)  -> 400 BadDigest
CRC32, SHA-1 and SHA-256 are computed by zlib/hashlib at any size; CRC32C and
CRC64NVME are pure Python here (no awscrt in .venv) and only checked for bodies up
to PURE_LIMIT_BYTES (larger ones are reported as unverified in the request log)."""
import base64
import hashlib
import zlib

from .errors import S3Error

PURE_LIMIT_BYTES = 8 << 20


def _table(poly, width):
    mask = (1 << width) - 1
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & mask)
    return table


_CRC32C = _table(0x82F63B78, 32)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5, 64)


class _Crc32:
    def __init__(self):
        self.v = 0

    def update(self, data):
        self.v = zlib.crc32(data, self.v)

    def digest(self):
        return self.v.to_bytes(4, "big")


class _PureCrc:
    def __init__(self, table, width):
        self.table = table
        self.width = width
        self.mask = (1 << width) - 1
        self.v = self.mask
        self.size = 0

    def update(self, data):
        self.size += len(data)
        if self.size > PURE_LIMIT_BYTES:
            return
        t, v = self.table, self.v
        for b in bytes(data):
            v = t[(v ^ b) & 0xFF] ^ (v >> 8)
        self.v = v

    def digest(self):
        if self.size > PURE_LIMIT_BYTES:
            return None
        return (self.v ^ self.mask).to_bytes(self.width // 8, "big")


def new_checksum(algorithm):
    """algorithm: crc32, crc32c, crc64nvme, sha1, sha256 -> object with update()/digest()
    (digest() None when it could not be computed), or None if unknown."""
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _PureCrc(_CRC32C, 32)
    if algorithm == "crc64nvme":
        return _PureCrc(_CRC64NVME, 64)
    if algorithm in ("sha1", "sha256"):
        return hashlib.new(algorithm)
    return None


class BodyChecker:
    """Digests of a body against what the request claims.

    sha256_hex: the x-amz-content-sha256 value when it is a hash (else None);
    md5: the 16 bytes Content-MD5 claims (or None); checksums: {alg: base64 value}."""

    def __init__(self, sha256_hex=None, md5=None, checksums=None):
        self.sha256_hex = sha256_hex
        self.md5 = md5
        self.claimed = dict(checksums or {})
        self._sha = hashlib.sha256() if sha256_hex else None
        self._md5 = hashlib.md5() if md5 is not None else None
        self._sums = {alg: new_checksum(alg) for alg in self.claimed}
        self.size = 0
        self.unverified = []

    def add_checksum(self, alg, value):
        """A checksum that arrives in a trailer, before the body is fed."""
        self.claimed[alg] = value
        self._sums[alg] = new_checksum(alg)

    def update(self, data):
        self.size += len(data)
        if self._sha is not None:
            self._sha.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        for s in self._sums.values():
            if s is not None:
                s.update(data)

    def finish(self):
        """Raises S3Error on the first mismatch."""
        if self._sha is not None:
            got = self._sha.hexdigest()
            if got != self.sha256_hex:
                raise S3Error(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header does not match what was "
                              "computed.", ClientComputedContentSHA256=self.sha256_hex,
                              S3ComputedContentSHA256=got)
        if self._md5 is not None and self._md5.digest() != self.md5:
            raise S3Error(400, "BadDigest",
                          "The Content-MD5 you specified did not match what we received.",
                          ExpectedDigest=base64.b64encode(self.md5).decode(),
                          CalculatedDigest=base64.b64encode(self._md5.digest()).decode())
        for alg, claimed in self.claimed.items():
            s = self._sums[alg]
            digest = s.digest() if s is not None else None
            if digest is None:
                self.unverified.append(alg)
                continue
            got = base64.b64encode(digest).decode()
            if got != claimed:
                raise S3Error(400, "BadDigest",
                              f"The {alg.upper()} you specified did not match the calculated "
                              f"checksum (sent {claimed}, computed {got}).")
