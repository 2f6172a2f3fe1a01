"""Front ends: eager ops, traced functions (and ONNX import). All produce the same IR."""
