"""A small, independent decoder of Thrift's Compact Protocol, for asserting the
exact bytes lakewriter writes (field presence, element types of lists, the
page headers and the page index), which the Parquet readers hide.

A struct decodes to a dict {field_id: value}; lists to Python lists (with the
element type kept in `List.etype`); binary to bytes; bools to True/False.
"""


class List(list):
    """A decoded list that remembers its element type and, for list<bool>, the
    raw element bytes."""

    def __init__(self, items, etype, raw_bools=None):
        super().__init__(items)
        self.etype = etype
        self.raw_bools = raw_bools


BOOL_TRUE, BOOL_FALSE, I8, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)


class Reader:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def byte(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        shift = 0
        result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self):
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ctype):
        if ctype in (BOOL_TRUE, BOOL_FALSE):
            # Only inside containers: one byte, 1 = true, 2 = false.
            b = self.byte()
            if b not in (1, 2):
                raise ValueError(f"bool element byte {b} (expected 1 or 2)")
            return b == 1
        if ctype == I8:
            b = self.byte()
            return b - 256 if b > 127 else b
        if ctype in (I16, I32, I64):
            return self.zigzag()
        if ctype == DOUBLE:
            import struct
            v = struct.unpack_from("<d", self.data, self.pos)[0]
            self.pos += 8
            return v
        if ctype == BINARY:
            n = self.varint()
            v = bytes(self.data[self.pos:self.pos + n])
            if len(v) != n:
                raise ValueError("binary past the end")
            self.pos += n
            return v
        if ctype in (LIST, SET):
            return self.list()
        if ctype == STRUCT:
            return self.struct()
        raise ValueError(f"unsupported compact type {ctype}")

    def list(self):
        h = self.byte()
        n = h >> 4
        etype = h & 0x0F
        if n == 15:
            n = self.varint()
        if etype in (BOOL_TRUE, BOOL_FALSE):
            raw = bytes(self.data[self.pos:self.pos + n])
            return List([self.value(etype) for _ in range(n)], etype, raw)
        return List([self.value(etype) for _ in range(n)], etype)

    def struct(self):
        fields = {}
        last = 0
        while True:
            h = self.byte()
            if h == 0:
                return fields
            ctype = h & 0x0F
            delta = h >> 4
            fid = last + delta if delta else self.zigzag()
            if fid in fields:
                raise ValueError(f"field {fid} repeated")
            if ctype == BOOL_TRUE:
                fields[fid] = True
            elif ctype == BOOL_FALSE:
                fields[fid] = False
            else:
                fields[fid] = self.value(ctype)
            last = fid


def decode_struct(data, pos=0):
    """Decodes one struct at data[pos:]; returns (fields, end position)."""
    r = Reader(data, pos)
    s = r.struct()
    return s, r.pos


def footer(data):
    """Decodes the FileMetaData of a whole Parquet file; returns (fields, footer
    start offset)."""
    if data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise ValueError("not a Parquet file")
    n = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - n
    fmd, end = decode_struct(data, start)
    if end != len(data) - 8:
        raise ValueError(f"FileMetaData ends at {end}, the length says {len(data) - 8}")
    return fmd, start
