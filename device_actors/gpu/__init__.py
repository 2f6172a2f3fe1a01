"""The "gpu" device type: CuPy kernels on an NVIDIA GPU (`device`)."""
