"""Front ends: eager ops (and `tr.device`), traced functions, ONNX import, and
`tr.compile` / `tr.load`. All produce the same IR."""
