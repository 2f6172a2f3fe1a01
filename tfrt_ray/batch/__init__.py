"""Batch inference: a compiled program over the rows of a Parquet file, with several steps
in flight, a progress bar, and output written in checkpoints that a rerun resumes.

``tfrt-ray run model.onnx --inputs data.parquet --output preds.parquet`` uses it; from
Python, compile the model's graph for a batch size and call `run_parquet`. How columns map
to inputs is in `tfrt_ray.batch.columns`; how resuming works, in
`tfrt_ray.batch.checkpoint`; padding of the last batch, in `tfrt_ray.batch.runner`.
"""

from tfrt_ray.batch.checkpoint import CheckpointedOutput, file_identity
from tfrt_ray.batch.columns import array_to_column, column_to_array
from tfrt_ray.batch.runner import BatchReport, run_parquet

__all__ = [
    "BatchReport",
    "CheckpointedOutput",
    "array_to_column",
    "column_to_array",
    "file_identity",
    "run_parquet",
]
