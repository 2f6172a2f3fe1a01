"""``scipy.special``, imported on first use: it costs about a fifth of a second of
start-up, and only erf of non-float32 values and sigmoid need it."""

from __future__ import annotations

from functools import cache
from types import ModuleType


@cache
def special() -> ModuleType:
    from scipy import special as module

    return module


def expit(x, out=None):
    """The logistic sigmoid (``scipy.special.expit``)."""
    return special().expit(x, out=out)
