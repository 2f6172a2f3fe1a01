"""Source locations: the user's file and line where an op was created."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

# Frames from these folders are ours; the first frame outside them is the user's.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OWN_DIRS = tuple(
    os.path.join(_ROOT, pkg) + os.sep for pkg in ("tfrt_ray", "device_actors", "scheduler")
)


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a node came from: the user's ``file:line``, and/or a name (an ONNX node's)."""

    file: str | None = None
    line: int = 0
    name: str | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.name or "unknown"
        where = f"{self.file}:{self.line}"
        return f"{where} ({self.name})" if self.name else where


UNKNOWN = Loc()


def user_location(skip: int = 1) -> Loc:
    """The first stack frame outside tfrt-ray's own packages."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_OWN_DIRS) and not filename.startswith("<frozen"):
            return Loc(filename, frame.f_lineno)
        frame = frame.f_back
    return UNKNOWN
