"""Exact, vectorised keys of short text ids, for matching a submission's ids to the answers' in numpy.

An id of at most `MAX_ID_BYTES` bytes of UTF-8 is its length plus its bytes packed into a few
64-bit words (zero past its end). Two ids are equal exactly when their lengths and all their words
are equal, so a match found through a hash of the words is confirmed exactly by comparing the words
themselves: a hash collision can only send a submission to the slow path, never pair the wrong rows.

The words are read straight from Arrow's string buffers (one gather of 8 bytes per word per id, no
Python object per row), and the answers' keys and hash table are built once per answers file. This
replaces, for the common case (every id present once), a dictionary encoding of the two million
strings of a million-row submission and its answers, which costs several times reading both files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

#: Ids longer than this (in UTF-8 bytes) are matched by the general path only.
MAX_ID_BYTES = 64
#: `_MASKS[n]` keeps the low n bytes of a little-endian word.
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
#: Odd 64-bit constants of the hash (splitmix64's); any mixing will do, equality is checked exactly.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class IdKeys:
    """Every id as its length (bytes, uint8) and `len(words)` words of its bytes."""

    lengths: np.ndarray
    words: tuple[np.ndarray, ...]

    def hashes(self) -> np.ndarray:
        """A 64-bit hash of each id (equal ids, equal hashes)."""
        with np.errstate(over="ignore"):
            mixed = self.lengths.astype(np.uint64) * _MIX_2
            for word in self.words:
                mixed ^= word * _MULTIPLIER
                mixed = (mixed ^ (mixed >> np.uint64(29))) * _MIX_1
            result: np.ndarray = mixed ^ (mixed >> np.uint64(32))
        return result


def _offsets(chunk: pa.Array) -> np.ndarray:
    """The chunk's len + 1 string offsets (large_string: 64-bit), as numpy, without a copy."""
    buffer = chunk.buffers()[1]
    return np.frombuffer(buffer, dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)


def id_keys(text: pa.ChunkedArray, width: int | None = None) -> IdKeys | None:
    """The keys of large_string ids, `width` words each (by default, enough for the longest); None
    when one is null or longer than the words hold (or than MAX_ID_BYTES)."""
    if text.null_count:
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
        word = windows[starts + 8 * k] if k else windows[starts]
        if k * 8 + 8 > shortest:  # some id ends within (or before) this word
            word &= _MASKS[np.minimum(short - np.minimum(short, np.uint8(8 * k)), np.uint8(8))]
        words.append(word)
    return IdKeys(short, tuple(words))


@dataclass(frozen=True)
class IdIndex:
    """The expected ids (all distinct) as keys, and an open-addressing hash table of their positions.

    `table` has a power-of-two number of slots, at least four per id; an id's home slot is the top
    bits of its hash, and it sits in the first free slot from there on (linear probing). A lookup
    walks the same slots until it finds the id's hash or an empty slot (-1), for all ids at once,
    round by round over the ones not yet settled (a round or two at this load).
    """

    keys: IdKeys
    hashes: np.ndarray
    table: np.ndarray
    shift: np.uint64

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        home: np.ndarray = (hashes >> self.shift).astype(np.int64)
        return home

    def lookup(self, hashes: np.ndarray) -> np.ndarray | None:
        """The position of each hash among the expected ids' hashes; None if one is not there."""
        mask = len(self.table) - 1
        slot = self._slots(hashes)
        found = self.table[slot].astype(np.int64)
        pending = np.flatnonzero((found < 0) | (self.hashes[np.maximum(found, 0)] != hashes))
        while len(pending):
            if int(found[pending].min()) < 0:
                return None  # an empty slot before the hash: not an expected id
            slot[pending] = (slot[pending] + 1) & mask
            probed = self.table[slot[pending]].astype(np.int64)
            found[pending] = probed
            pending = pending[(probed < 0) | (self.hashes[np.maximum(probed, 0)] != hashes[pending])]
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
        wanted_at = self.lookup(submitted.hashes())
        if wanted_at is None:
            return None
        # Exact: the same length and bytes as the expected id the hash pointed to.
        if not np.array_equal(self.keys.lengths[wanted_at], submitted.lengths):
            return None
        for word, theirs in zip(self.keys.words, submitted.words, strict=True):
            if not np.array_equal(word[wanted_at], theirs):
                return None
        # Each expected id once: with as many rows as ids and none unknown, a repeat leaves a hole.
        order = np.full(count, -1, dtype=np.int64)
        order[wanted_at] = np.arange(count, dtype=np.int64)
        if count and int(order.min()) < 0:
            return None
        return order


def id_index(text: pa.ChunkedArray) -> IdIndex | None:
    """The index of distinct expected ids; None when they cannot be keyed (a null or a long id)."""
    keys = id_keys(text)
    if keys is None:
        return None
    hashes = keys.hashes()
    count = len(hashes)
    bits = max(int(count).bit_length() + 2, 4)
    table = np.full(1 << bits, -1, dtype=np.int32 if count < 2**31 else np.int64)
    index = IdIndex(keys, hashes, table, np.uint64(64 - bits))
    mask = len(table) - 1
    slot = index._slots(hashes)
    pending = np.arange(count, dtype=np.int64)
    while len(pending):
        free = table[slot[pending]] < 0
        claim = pending[free]
        # Of several ids claiming one free slot, the last write wins; the others probe on.
        table[slot[claim]] = claim
        placed = np.zeros(count, dtype=bool)
        placed[claim[table[slot[claim]] == claim]] = True
        pending = pending[~placed[pending]]
        slot[pending] = (slot[pending] + 1) & mask
    # Two ids sharing a hash (about n^2 / 2^65 likely) are both in the table, but a lookup stops at
    # the first: the other's submissions fail the exact check and take the general path.
    return index
