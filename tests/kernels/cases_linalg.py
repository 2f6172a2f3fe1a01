"""Cases for the linalg family."""

CASES: list = []
