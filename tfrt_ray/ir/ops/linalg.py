"""linalg ops. (Being written.)"""
