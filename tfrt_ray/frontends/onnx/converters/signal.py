"""Signal ONNX ops: DFT, STFT (frames gathered, windowed, then a DFT), MelWeightMatrix
(a constant). Complex values are (..., 2) real/imaginary pairs."""

from __future__ import annotations

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import dtype_of


@converter("DFT")
def _dft(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    axis = ctx.attr("axis", 1) if ctx.opset < 20 else ctx.item(2, "axis", -2)
    length = ctx.item(1, "dft_length")
    return ctx.emit(
        "dft",
        x,
        axis=int(axis),
        inverse=bool(ctx.attr("inverse", 0)),
        onesided=bool(ctx.attr("onesided", 0)),
        length=None if length is None else int(length),
    )


@converter("STFT")
def _stft(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    _, length, _ = ctx.static_shape(x)
    step = int(ctx.item(1, "frame_step"))
    window = ctx.input(2) if ctx.has(2) else None
    frame = ctx.item(3, "frame_length")
    if frame is None:
        frame = window.shape[0] if window is not None else length
    frame = int(frame)
    n_frames = 1 + (length - frame) // step
    idx = (np.arange(n_frames)[:, None] * step + np.arange(frame)[None, :]).astype(np.int64)
    frames = ctx.emit("gather", x, ctx.constant(idx), axis=1)  # (batch, frames, frame, c)
    if window is not None:
        frames = ctx.emit("mul", frames, ctx.reshape(window, (frame, 1)))
    return ctx.emit("dft", frames, axis=2, onesided=bool(ctx.attr("onesided", 1)))


@converter("MelWeightMatrix")
def _mel_weight_matrix(ctx: NodeContext) -> Value:
    bins, n_fft, rate = (int(ctx.item(i, w)) for i, w in
                         enumerate(("num_mel_bins", "dft_length", "sample_rate")))
    low, high = ctx.item(3, "lower_edge_hertz"), ctx.item(4, "upper_edge_hertz")
    n_spec = n_fft // 2 + 1
    freq = np.arange(0, bins + 2)
    low_mel = 2595 * np.log1p(low / 700) / np.log(10)
    high_mel = 2595 * np.log1p(high / 700) / np.log(10)
    step = (high_mel - low_mel) / freq.shape[0]
    freq = 700 * np.expm1((freq * step + low_mel) / 2595 * np.log(10))
    freq = (((n_fft + 1) * freq) // rate).astype(int)
    out = np.zeros((n_spec, bins))
    for i in range(bins):
        lo, center, hi = freq[i], freq[i + 1], freq[i + 2]
        if center == lo:
            out[center, i] = 1
        else:
            j = np.arange(lo, center + 1)
            out[j, i] = (j - lo) / (center - lo)
        if hi > center:
            j = np.arange(center, hi)
            out[j, i] = (hi - j) / (hi - center)
    dtype = dtype_of(ctx.attr("output_datatype", 1), "output_datatype")
    return ctx.constant(out, dtype)
