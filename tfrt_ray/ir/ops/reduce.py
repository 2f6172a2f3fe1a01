"""reduce ops. (Being written.)"""
