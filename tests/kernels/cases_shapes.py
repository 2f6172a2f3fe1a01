"""Cases for the shapes family."""

CASES: list = []
