"""ONNX op converters, one module per family; importing this package registers them."""

from tfrt_ray.frontends.onnx.converters import (  # noqa: F401  (imported to register them)
    activations,
    control,
    data_dependent,
    elementwise,
    image,
    indexing,
    nn,
    quant,
    reduce,
    rnn,
    sequences,
    shapes,
    signal,
    training,
)
