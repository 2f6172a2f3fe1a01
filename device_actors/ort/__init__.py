"""The "ort" device type: whole stages exported to ONNX and run by ONNX Runtime
(`device`, with the exporters in `onnx_export*`)."""
