"""Device types that ship with tfrt-ray besides the CPU: "ort" (whole stages run by ONNX
Runtime) and "gpu" (CuPy kernels). Each module's ``device_type()`` describes its type for
`device_actors.plugins`."""
