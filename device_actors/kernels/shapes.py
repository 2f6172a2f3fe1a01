"""Reference kernels for the shapes family. (Being written.)"""
