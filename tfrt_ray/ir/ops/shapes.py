"""shapes ops. (Being written.)"""
