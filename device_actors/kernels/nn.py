"""Reference kernels for the nn family. (Being written.)"""
