"""erf for the CPU kernels: a float32 rational approximation, scipy for other dtypes.

``scipy.special.erf`` costs about 12 ns per float32 element here (it evaluates in double
through a generic loop); GELU in a BERT-base encoder spent 35 ms of a 156 ms step in it.
The float32 path is ``erf(x) = x * P(x^2) / Q(x^2)`` on ``x`` clipped to [-4, 4] (beyond
that erf rounds to +/-1 in float32), evaluated with in-place NumPy passes over blocks that
stay in cache: about 8x faster, never outside [-1, 1], and within 4.1e-7 of the exact erf
everywhere, absolute and relative (a few ulp; scipy's float32 result is within 3e-8).
``tests/core/kernels/test_erf.py`` holds these bounds.

P (degree 6) and Q (degree 5, Q(0) = 1) were fitted to erf(x)/x on [0, 4] in float64
by linearised least squares with Lawson reweighting towards the minimax fit
(relative error 6.3e-9 in float64); P(0) is 2/sqrt(pi).
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.kernels.scipy_special import special

_P = np.array(
    [1.12837917e00, 1.85172752e-01, 5.41739292e-02, 3.83026841e-03,
     3.73556794e-04, 4.52511346e-06, -1.23813264e-08],
    np.float32,
)
_Q = np.array(
    [1.00000000e00, 4.97438460e-01, 1.13822841e-01, 1.54021578e-02,
     1.29547843e-03, 6.15910517e-05],
    np.float32,
)
_CLIP = np.float32(4.0)
# Elements per block: the block and its three scratch arrays fit in L2 (1 MiB of 2 MiB).
BLOCK = 1 << 16


def _horner(coeffs: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    np.multiply(u, coeffs[-1], out=out)
    for c in coeffs[-2:0:-1]:
        out += c
        out *= u
    out += coeffs[0]


def _erf_block(x: np.ndarray, out: np.ndarray, xc: np.ndarray, u: np.ndarray,
               den: np.ndarray) -> None:
    np.clip(x, -_CLIP, _CLIP, out=xc)
    np.multiply(xc, xc, out=u)
    _horner(_Q, u, den)
    _horner(_P, u, out)  # x (which out may be) was last read by the clip
    out /= den
    out *= xc
    np.clip(out, -1.0, 1.0, out=out)  # the fit's last ulp would put erf(4) just past 1


def erf_f32_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """erf of float32 ``x`` into float32 ``out`` (``out`` may be ``x``); returns ``out``."""
    xf, of = x.reshape(-1), out.reshape(-1)
    n = xf.size
    size = min(n, BLOCK)
    xc, u, den = (np.empty(size, np.float32) for _ in range(3))
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        m = hi - lo
        _erf_block(xf[lo:hi], of[lo:hi], xc[:m], u[:m], den[:m])
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) in ``x``'s dtype, as a new array."""
    x = np.asarray(x)
    if x.dtype == np.float32:
        return erf_f32_into(np.ascontiguousarray(x), np.empty(x.shape, np.float32))
    return np.asarray(special().erf(x)).astype(x.dtype, copy=False)


def erf_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """erf(x) into ``out`` (``x`` broadcasts to ``out``; ``out`` may be ``x``); returns
    ``out``."""
    if out.dtype != np.float32 or not out.flags.c_contiguous:
        np.copyto(out, special().erf(x), casting="unsafe")
        return out
    if x.shape != out.shape or x.dtype != np.float32 or not x.flags.c_contiguous:
        np.copyto(out, x, casting="unsafe")
        x = out
    return erf_f32_into(x, out)
