"""Make the repository root importable for pytest."""
