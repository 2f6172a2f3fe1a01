"""nn ops. (Being written.)"""
