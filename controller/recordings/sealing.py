"""The sealed file format of the vault: AES-256-GCM in chunks, one data key per file (S10).

A sealed file is a 32-byte header followed by chunks::

    header = magic "RCVAULT\\0" | format version (1) | 3 reserved bytes
             | plaintext chunk size (4, big-endian) | data key id (16)
    chunk  = AES-256-GCM(data key, nonce = index (8, big-endian) | last (1) | 0 0 0,
                         associated data = header) -> ciphertext | 16-byte tag

Why this shape:

* the nonce never repeats: every file (every version of a recording) has a key of its
  own, and within a file each chunk has its own index;
* a chunk moved elsewhere in its file fails its tag (the index is in the nonce), a chunk
  from another file fails it (another key, another header), a file cut at a chunk
  boundary fails on its new last chunk (sealed with ``last = 0``), and a changed header
  fails every chunk (the header is the associated data);
* the plaintext offset of a byte fixes its chunk, so a seek (a Range request) costs one
  chunk's decryption, and memory stays at one chunk whatever the file's length.

Nothing here knows where keys live: :mod:`controller.recordings.keyring` does.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.recordings.vault_errors import VaultError

MAGIC = b"RCVAULT\x00"
VERSION = 1
CHUNK = 1 << 16
TAG = 16
KEY_ID_BYTES = 16
_HEADER = struct.Struct(">8sB3xI16s")
HEADER_SIZE = _HEADER.size


class SealError(VaultError):
    """A sealed file that cannot be opened; ``error_id`` says why."""

    error_id = "vault-sealed-error"


class SealTampered(SealError):
    """A chunk or the header fails its authentication: the file was changed, cut short,
    or pieced together from other files. Nothing of that chunk is returned."""

    error_id = "vault-tampered"


class SealUnsupported(SealError):
    error_id = "vault-format-unsupported"


@dataclass(frozen=True)
class Header:
    chunk: int
    key_id: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.chunk, self.key_id)


def is_sealed(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a sealed file (a WAV starts "RIFF")."""
    return head[: len(MAGIC)] == MAGIC


def read_header(head: bytes) -> Header:
    """The header of a sealed file from its first :data:`HEADER_SIZE` bytes."""
    if len(head) < HEADER_SIZE or not is_sealed(head):
        raise SealTampered("not a sealed vault file, or its header is cut short")
    _, version, chunk, key_id = _HEADER.unpack_from(head)
    if version != VERSION:
        raise SealUnsupported(
            f"sealed with format version {version}; this reccontrol reads {VERSION}"
        )
    if not 0 < chunk <= 1 << 24:
        raise SealTampered(f"its header declares chunks of {chunk} bytes")
    return Header(chunk, key_id)


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">QB3x", index, 1 if last else 0)


def plaintext_size(header: Header, file_size: int) -> int:
    """The plaintext length of a sealed file of ``file_size`` bytes (every chunk is full
    but the last, which is sealed even when empty)."""
    body = file_size - HEADER_SIZE
    sealed = header.chunk + TAG
    if body == TAG:
        return 0  # one empty last chunk: an empty plaintext
    chunks, rest = divmod(body, sealed)
    if rest:
        # Only the last chunk may be short, and it holds at least one byte then.
        if rest <= TAG:
            raise SealTampered("it is cut short inside a chunk")
        chunks += 1
    if chunks == 0:
        raise SealTampered("it holds no chunk")
    return body - chunks * TAG


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def seal(
    out: Writable, key: bytes, key_id: bytes, blocks: Iterable[bytes], chunk: int = CHUNK
) -> tuple[str, int]:
    """Writes ``blocks`` sealed to ``out``; returns the SHA-256 and length of the
    plaintext (the hash the store keeps, comparable with a plaintext file's)."""
    header = Header(chunk, key_id).pack()
    aead = AESGCM(key)
    out.write(header)
    digest = hashlib.sha256()
    pending = bytearray()
    index = size = 0
    for block in blocks:
        digest.update(block)
        size += len(block)
        pending += block
        # A full chunk is written only once more data follows: the last must be flagged.
        while len(pending) > chunk:
            out.write(aead.encrypt(_nonce(index, False), bytes(pending[:chunk]), header))
            del pending[:chunk]
            index += 1
    out.write(aead.encrypt(_nonce(index, True), bytes(pending), header))
    return digest.hexdigest(), size


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed file, seekable, decrypted one chunk at a time."""

    def __init__(self, raw: BinaryIO, key_for: Callable[[bytes], bytes]) -> None:
        super().__init__()
        self._raw = raw
        head = raw.read(HEADER_SIZE)
        self._header = read_header(head)
        self._head = head
        self._aead = AESGCM(key_for(self._header.key_id))
        raw.seek(0, io.SEEK_END)
        self._size = plaintext_size(self._header, raw.tell())
        # Every chunk is full but the last, which is sealed even when empty.
        self._chunks = max(1, -(-self._size // self._header.chunk))
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The stored file's: its identity (device, inode, time) is the stored file's."""
        return self._raw.fileno()

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        chunk = self._header.chunk
        self._raw.seek(HEADER_SIZE + index * (chunk + TAG))
        sealed = self._raw.read(chunk + TAG)
        last = index == self._chunks - 1
        try:
            plain = self._aead.decrypt(_nonce(index, last), sealed, self._head)
        except InvalidTag:
            raise SealTampered(
                f"chunk {index} fails its authentication (changed, moved, cut short or "
                "taken from another file)"
            ) from None
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            if self._size == 0 and self._pos == 0:
                self._chunk(0)  # an empty file is still one authenticated chunk
            return 0
        index, within = divmod(self._pos, self._header.chunk)
        plain = self._chunk(index)[within:]
        count = min(len(buffer), len(plain))
        buffer[:count] = plain[:count]
        self._pos += count
        return count

    def close(self) -> None:
        self._cached = None
        super().close()


def open_sealed(raw: BinaryIO, key_for: Callable[[bytes], bytes]) -> BinaryIO:
    """A buffered, seekable plaintext view of the sealed file ``raw``."""
    return io.BufferedReader(SealedReader(raw, key_for), buffer_size=CHUNK)
