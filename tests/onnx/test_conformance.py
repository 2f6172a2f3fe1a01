"""The official ONNX backend conformance suite, run on tfrt-ray's ONNX backend (CPU).

Every CPU test runs; known failures are listed, with the reason, in
``conformance_xfail.py`` (a listed test that passes fails the run). Nothing is
downloaded: ``ONNX_HOME`` is a temporary folder and the "real" model tests use the small
models ONNX ships. ``conformance_report.py`` prints the counts.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import onnx.backend.test

from tests.onnx.conformance_xfail import EXCLUDE, XFAIL
from tfrt_ray.frontends.onnx.backend import TfrtRayBackend

os.environ["ONNX_HOME"] = tempfile.mkdtemp(prefix="tfrt_ray_onnx_home_")
warnings.filterwarnings("ignore", category=RuntimeWarning)

backend_test = onnx.backend.test.BackendTest(TfrtRayBackend, __name__)
for _pattern in EXCLUDE:
    backend_test.exclude(_pattern)
for _pattern in XFAIL:
    backend_test.xfail(_pattern)

globals().update(backend_test.enable_report().test_cases)
