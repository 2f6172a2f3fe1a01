"""Executable files: one file holds a compiled program, like TFRT's BEF.

A file is safe to load from anyone: loading executes nothing from it (the program is
JSON, the weights raw little-endian bytes), checks every offset against the file's size
before reading, and every problem ends in `ExecutableFormatError` (its subclass
`ExecutableVersionError` for a format version this tfrt-ray does not read).

Layout (all integers little-endian; offsets absolute)::

    0    8   magic b"\\x89TRX\\r\\n\\x1a\\n"
    8    4   u32 format version (bytes 0-11 mean the same in every version)
    12   4   u32 header size (128)
    16   8   u64 program offset (128)
    24   8   u64 program length P
    32   8   u64 data offset D = 128 + P rounded up to 64
    40   8   u64 data length
    48   8   u64 file length (D + data length): truncation is caught before any read
    56   4   u32 CRC32 of the program section
    60   4   u32 flags (0)
    64   48  producer, UTF-8, NUL-padded ("tfrt-ray 0.1.0")
    112  12  reserved (0)
    124  4   u32 CRC32 of bytes 0-123
    128  P   program: UTF-8 JSON {"graph", "weights", "plan", "metadata"}
             (see `tfrt_ray.executable.program`); zero padding up to D
    D    ..  data region: the weights, each at a 64-byte boundary relative to D (which is
             itself 64-aligned), zero padding between; their dtype, shape, offset, size
             and CRC32 are in the program's "weights" table

Loading memory-maps the file; each weight is a read-only numpy view of the map (no copy).
Checking the weights' checksums is one pass over them and is on by default;
``read_executable(path, verify_weights=False)`` skips it for loads that touch only the
header and the program.
"""

from tfrt_ray.executable.describe import describe_executable
from tfrt_ray.executable.header import FORMAT_VERSION, MAGIC
from tfrt_ray.executable.reader import Executable, read_executable
from tfrt_ray.executable.writer import write_executable

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Executable",
    "describe_executable",
    "read_executable",
    "write_executable",
]
