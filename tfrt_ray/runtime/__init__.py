"""The host runtime: loads plans onto devices once, then submits each step's stage calls."""
