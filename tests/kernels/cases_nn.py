"""Cases for the nn family."""

CASES: list = []
