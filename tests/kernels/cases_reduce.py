"""Cases for the reduce family."""

CASES: list = []
