"""Exact, vectorised keys of short text ids, for matching a submission's ids to the answers' in numpy.

An id of at most `MAX_ID_BYTES` bytes of UTF-8 is its length plus its bytes packed into a few
64-bit words (zero past its end). Two ids are equal exactly when their lengths and all their words
are equal. A hash of the words only says where in a hash table to start looking; every match is
the words themselves compared, so a collision costs a probe, never pairs the wrong rows.

The words are read straight from Arrow's string buffers (one gather of 8 bytes per word per id, no
Python object per row), and the answers' keys and hash table are built once per answers file. This
replaces, for the common case (every id present once), a dictionary encoding of the two million
strings of a million-row submission and its answers, which costs several times reading both files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

#: Ids longer than this (in UTF-8 bytes) are matched by the general path only.
MAX_ID_BYTES = 64
#: `_MASKS[n]` keeps the low n bytes of a little-endian word.
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
#: Odd 64-bit constants of the hash (splitmix64's); any spread will do, equality is checked exactly.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class IdKeys:
    """Every id as its length (bytes, uint8) and `len(words)` words of its bytes."""

    lengths: np.ndarray
    words: tuple[np.ndarray, ...]

    def hashes(self) -> np.ndarray:
        """A 64-bit multiplicative hash of each id's words and length (equal ids, equal hashes; its
        high bits are well spread, its low ones are not used)."""
        with np.errstate(over="ignore"):
            mixed = self.words[0] * _MULTIPLIER
            for word in self.words[1:]:
                mixed ^= word
                mixed *= _MIX_1
            mixed ^= self.lengths
            mixed *= _MIX_2
        return mixed

    def same(self, rows: np.ndarray | slice, other: IdKeys, at: np.ndarray) -> np.ndarray:
        """Whether `other`'s ids at `rows` equal these ids at `at`, exactly (length and every byte)."""
        equal: np.ndarray = self.lengths[at] == other.lengths[rows]
        for mine, theirs in zip(self.words, other.words, strict=True):
            equal &= mine[at] == theirs[rows]
        return equal


def _offsets(chunk: pa.Array) -> np.ndarray:
    """The chunk's len + 1 string offsets (large_string: 64-bit), as numpy, without a copy."""
    buffer = chunk.buffers()[1]
    return np.frombuffer(buffer, dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)


def id_keys(text: pa.ChunkedArray, width: int | None = None) -> IdKeys | None:
    """The keys of large_string ids, `width` words each (by default, enough for the longest); None
    when one is null or longer than the words hold (or than MAX_ID_BYTES)."""
    if text.type != pa.large_string() or text.null_count:
        return None
    chunks = [chunk for chunk in text.chunks if len(chunk)]
    # The offsets of every id into one buffer holding the chunks' bytes one after the other.
    offsets = np.empty(sum(len(chunk) for chunk in chunks) + 1, dtype=np.int64)
    offsets[0] = row = at = 0
    pieces = []
    for chunk in chunks:
        chunk_offsets = _offsets(chunk)
        first, size = int(chunk_offsets[0]), int(chunk_offsets[-1] - chunk_offsets[0])
        np.add(chunk_offsets[1:], at - first, out=offsets[row + 1 : row + len(chunk) + 1])
        if size:
            pieces.append(np.frombuffer(chunk.buffers()[2], dtype=np.uint8, count=first + size)[first:])
        row, at = row + len(chunk), at + size
    lengths = np.diff(offsets)
    longest = int(lengths.max()) if len(lengths) else 0
    if longest > (MAX_ID_BYTES if width is None else 8 * width):
        return None
    width = width if width is not None else max(-(-longest // 8), 1)
    # With room for a whole word read past the last id.
    padded = np.zeros(at + 8 * width + 8, dtype=np.uint8)
    if pieces:
        np.concatenate(pieces, out=padded[:at])
    # Every 8-byte window of the bytes, one starting at each byte (an unaligned strided view).
    windows = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    starts = offsets[:-1]
    short = lengths.astype(np.uint8)  # every length is at most 8 * width <= MAX_ID_BYTES here
    shortest = int(lengths.min()) if len(lengths) else 0
    words = []
    for k in range(width):
        word = windows[8 * k :][starts]
        if k * 8 + 8 > shortest:  # some id ends within (or before) this word
            word &= _MASKS[np.minimum(short - np.minimum(short, np.uint8(8 * k)), np.uint8(8))]
        words.append(word)
    return IdKeys(short, tuple(words))


#: An empty slot of the table (no entry has it: an entry's low half is a position below 2**31).
_EMPTY = np.uint64(2**64 - 1)
_LOW = np.uint64(2**32 - 1)
_HALF = np.uint64(32)


@dataclass(frozen=True)
class IdIndex:
    """The expected ids (all distinct) as keys, and an open-addressing hash table of their positions.

    `table` has 2**bits slots, at least four per id. An id's hash gives its home slot (the top
    `bits` bits) and a 32-bit tag (the next 32); the id sits in the first free slot from its home
    on (linear probing), as `tag << 32 | position`. A lookup walks the same slots, for all submitted
    ids at once, round by round over those not yet settled (adjacent slots: cheap), until the tag
    matches or the slot is empty (not an expected id). The ids found are then compared exactly
    with the expected ones (length and bytes): a tag shared by chance (about once in 4 billion
    probes) fails that check and the caller's general path decides.
    """

    keys: IdKeys
    table: np.ndarray
    bits: int

    def _home_and_tag(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        home: np.ndarray = (hashes >> np.uint64(64 - self.bits)).view(np.int64)
        tag: np.ndarray = (hashes >> np.uint64(32 - self.bits)) & _LOW
        return home, tag

    def lookup(self, submitted: IdKeys) -> np.ndarray | None:
        """For each submitted id, the position of the equal expected id; None if one has none."""
        mask = len(self.table) - 1
        slot, tag = self._home_and_tag(submitted.hashes())
        entry = self.table[slot]
        pending = np.flatnonzero(((entry >> _HALF) != tag) | (entry == _EMPTY))
        while len(pending):
            probed = entry[pending]
            if (probed == _EMPTY).any():
                return None  # an empty slot reached: not an expected id
            slot[pending] = (slot[pending] + 1) & mask
            probed = self.table[slot[pending]]
            entry[pending] = probed
            pending = pending[((probed >> _HALF) != tag[pending]) | (probed == _EMPTY)]
        found: np.ndarray = (entry & _LOW).view(np.int64)
        if not self.keys.same(slice(None), submitted, found).all():
            return None  # a tag shared by chance, or an id that is not expected
        return found

    def positions(self, text: pa.ChunkedArray) -> np.ndarray | None:
        """For each expected id, its row among the submitted ids, when they are exactly the expected
        ids, each once, in any order; None otherwise (the caller's general path then says why)."""
        count = len(self.keys.lengths)
        if len(text) != count:
            return None
        # A submitted id longer than every expected one is not expected: None, the general path names it.
        submitted = id_keys(text, width=len(self.keys.words))
        if submitted is None:
            return None
        wanted_at = self.lookup(submitted)
        if wanted_at is None:
            return None
        # Each expected id once: with as many rows as ids and none unknown, a repeat leaves a hole.
        order = np.full(count, -1, dtype=np.int64)
        order[wanted_at] = np.arange(count, dtype=np.int64)
        if count and int(order.min()) < 0:
            return None
        return order


def id_index(text: pa.ChunkedArray, bits: int | None = None) -> IdIndex | None:
    """The index of distinct expected ids; None when they cannot be keyed (a null or a long id, or
    2**31 ids or more).

    The table has 2**bits slots (by default at least four per id; fewer, down to one more than the
    ids, only make lookups probe further)."""
    keys = id_keys(text)
    if keys is None:
        return None
    count = len(keys.lengths)
    if count >= 2**31:
        return None
    bits = bits if bits is not None else max(int(count).bit_length() + 2, 4)
    if 1 << bits <= count or bits > 32:
        raise ValueError(f"a table of 2**{bits} slots cannot hold {count} ids")
    table = np.full(1 << bits, _EMPTY, dtype=np.uint64)
    index = IdIndex(keys, table, bits)
    mask = len(table) - 1
    slot, tag = index._home_and_tag(keys.hashes())
    entries = (tag << _HALF) | np.arange(count, dtype=np.uint64)
    pending = np.arange(count, dtype=np.int64)
    while len(pending):
        free = table[slot[pending]] == _EMPTY
        claim = pending[free]
        # Of several ids claiming one free slot, the last write wins; the others probe on.
        table[slot[claim]] = entries[claim]
        placed = np.zeros(count, dtype=bool)
        placed[claim[table[slot[claim]] == entries[claim]]] = True
        pending = pending[~placed[pending]]
        slot[pending] = (slot[pending] + 1) & mask
    return index
