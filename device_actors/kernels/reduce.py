"""Reference kernels for the reduce family. (Being written.)"""
