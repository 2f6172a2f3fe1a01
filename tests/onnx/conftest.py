"""pytest setup for the ONNX tests."""

from __future__ import annotations


def pytest_configure(config) -> None:
    # onnx.backend.test's enable_report() marks each conformance test with this.
    config.addinivalue_line("markers", "onnx_coverage: ONNX backend coverage report marker")
