"""The version of tfrt-ray (one place: the package, the CLI and the file headers read it)."""

__version__ = "0.1.0"
