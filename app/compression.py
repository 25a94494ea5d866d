"""zstd for the large texts the database keeps: engine states (``cases.state``) and their history
(app/services/snapshots.py).

A frame starts with zstd's magic bytes, so a reader tells it from what the same column held before
(zlib streams, or plain UTF-8). A dictionary, where given, is raw content (the text of the step
before): whatever a step did not change compresses to a few bytes of references to it. The
compressor and decompressor objects are made per call: they are not safe to share between threads.
"""

from __future__ import annotations

import zstandard

MAGIC = b"\x28\xb5\x2f\xfd"
Error = zstandard.ZstdError


def compress(text: str, level: int, dictionary: str | None = None) -> bytes:
    packer = zstandard.ZstdCompressor(level=level, dict_data=_dictionary(dictionary), write_checksum=False,
                                      write_content_size=True, write_dict_id=False)
    return packer.compress(text.encode("utf-8"))


def decompress(body: bytes, dictionary: str | None = None) -> str:
    return zstandard.ZstdDecompressor(dict_data=_dictionary(dictionary)).decompress(body).decode("utf-8")


def is_zstd(body: bytes) -> bool:
    return body[:4] == MAGIC


def _dictionary(text: str | None) -> zstandard.ZstdCompressionDict | None:
    if text is None:
        return None
    return zstandard.ZstdCompressionDict(text.encode("utf-8"), dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def text_of(value: bytes | str | None) -> str | None:
    """A stored large text: a zstd frame, UTF-8 bytes not yet compressed, or text (SQLite)."""
    if value is None or isinstance(value, str):
        return value
    body = bytes(value)
    return decompress(body) if is_zstd(body) else body.decode("utf-8")
