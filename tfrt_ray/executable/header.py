"""The fixed 128-byte header of an executable file, and the checks made on it.

Bytes 0-11 (magic, format version) keep their meaning in every format version, so any
tfrt-ray can tell a file that is too new from a corrupt one. All integers are little-endian.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from tfrt_ray._version import __version__
from tfrt_ray.errors import ExecutableFormatError, ExecutableVersionError

MAGIC = b"\x89TRX\r\n\x1a\n"  # PNG-style: catches 7-bit and newline-translating copies
FORMAT_VERSION = 2  # the version this tfrt-ray writes (2: graph-valued attributes)
MIN_FORMAT_VERSION = 1  # the oldest version it reads
HEADER_SIZE = 128
ALIGN = 64  # the program's end and every weight start on this boundary
MAX_PROGRAM_BYTES = 256 << 20  # cap on the structured (JSON) section
PRODUCER = f"tfrt-ray {__version__}"
_PRODUCER_BYTES = 48

# magic, version, header size, program offset, program length, data offset, data length,
# file length, program crc32, flags, producer, reserved; then the header's own crc32.
_LAYOUT = struct.Struct("<8sII QQ QQQ II 48s12x")
assert _LAYOUT.size == HEADER_SIZE - 4

RECOMPILE = "recompile the program with this tfrt-ray (tfrt-ray compile ...)"


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def crc32(data) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Header:
    """Where the sections are. Offsets are absolute; the data region holds the weights."""

    format_version: int
    producer: str
    program_offset: int
    program_length: int
    program_crc32: int
    data_offset: int
    data_length: int
    file_length: int

    def pack(self) -> bytes:
        cut = self.producer.encode("utf-8")[:_PRODUCER_BYTES]
        producer = cut.decode("utf-8", "ignore").encode("utf-8")  # whole characters only
        head = _LAYOUT.pack(
            MAGIC,
            self.format_version,
            HEADER_SIZE,
            self.program_offset,
            self.program_length,
            self.data_offset,
            self.data_length,
            self.file_length,
            self.program_crc32,
            0,
            producer,
        )
        return head + struct.pack("<I", crc32(head))

    @staticmethod
    def layout(program_length: int, program_crc32: int, data_length: int) -> Header:
        """The header of a file whose program section and data region have these sizes."""
        data_offset = align(HEADER_SIZE + program_length)
        return Header(
            FORMAT_VERSION,
            PRODUCER,
            HEADER_SIZE,
            program_length,
            program_crc32,
            data_offset,
            data_length,
            data_offset + data_length,
        )


def _producer_text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("utf-8", "replace")


def parse_header(head: bytes, file_size: int, where: str) -> Header:
    """Checks magic, version, the header's checksum and every offset against ``file_size``.

    ``head`` is the file's first ``min(file_size, HEADER_SIZE)`` bytes.
    """

    def fail(msg: str, hint: str | None = None) -> ExecutableFormatError:
        return ExecutableFormatError(f"{where}: {msg}", hint=hint)

    if head[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(head):
            raise fail(f"truncated: the file is only {file_size} bytes", RECOMPILE)
        raise fail(
            "not a tfrt-ray executable (its first bytes are not the executable magic)",
            "pass a file written by tfrt_ray.executable.write_executable / tfrt-ray compile",
        )
    if len(head) < 12:
        raise fail(f"truncated: the file is only {file_size} bytes", RECOMPILE)
    (version,) = struct.unpack_from("<I", head, 8)
    if version > FORMAT_VERSION or version < MIN_FORMAT_VERSION:
        by = ""
        if len(head) >= 64 + _PRODUCER_BYTES:
            by = f" (written by {_producer_text(head[64 : 64 + _PRODUCER_BYTES])!r})"
        supported = (
            f"format version {FORMAT_VERSION}"
            if MIN_FORMAT_VERSION == FORMAT_VERSION
            else f"format versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}"
        )
        newer = version > FORMAT_VERSION
        raise ExecutableVersionError(
            f"{where}: executable format version {version}{by} is "
            f"{'newer than' if newer else 'older than'} what {PRODUCER} reads ({supported})",
            hint=(
                "upgrade tfrt-ray to the version that wrote it (or newer), or " + RECOMPILE
                if newer
                else RECOMPILE
            ),
        )
    if len(head) < HEADER_SIZE:
        raise fail(f"truncated: the file is only {file_size} bytes, less than its header")
    fields = _LAYOUT.unpack_from(head)
    (stored,) = struct.unpack_from("<I", head, HEADER_SIZE - 4)
    if crc32(head[: HEADER_SIZE - 4]) != stored:
        raise fail("the header's checksum does not match: the file is corrupt", RECOMPILE)
    _, _, hsize, p_off, p_len, d_off, d_len, f_len, p_crc, flags, producer = fields
    if hsize != HEADER_SIZE or flags != 0 or p_off != HEADER_SIZE:
        raise fail("the header describes a layout this format version does not have")
    if f_len != file_size:
        what = "truncated" if file_size < f_len else "has trailing bytes"
        raise fail(f"{what}: the header says {f_len} bytes but the file has {file_size}")
    if p_len > MAX_PROGRAM_BYTES:
        raise fail(f"the program section is {p_len} bytes, over the cap of {MAX_PROGRAM_BYTES}")
    if d_off != align(p_off + p_len) or d_off + d_len != f_len:
        raise fail("the header's section offsets are inconsistent: the file is corrupt")
    try:
        producer_text = producer.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        raise fail("the producer field is not UTF-8: the file is corrupt") from None
    return Header(version, producer_text, p_off, p_len, p_crc, d_off, d_len, f_len)
