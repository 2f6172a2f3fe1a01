"""Reference kernels for the linalg family. (Being written.)"""
