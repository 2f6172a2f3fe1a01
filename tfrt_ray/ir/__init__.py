"""The IR: typed SSA graphs, their text form, and their verifier."""

from tfrt_ray.ir.graph import ConstTensor, Graph, GraphBuilder, Node
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.text import print_graph
from tfrt_ray.ir.text_parse import parse_graph
from tfrt_ray.ir.types import TensorType, dtype_token, numpy_dtype
from tfrt_ray.ir.verifier import verify

__all__ = [
    "ConstTensor",
    "Graph",
    "GraphBuilder",
    "Loc",
    "Node",
    "TensorType",
    "dtype_token",
    "numpy_dtype",
    "parse_graph",
    "print_graph",
    "verify",
]
