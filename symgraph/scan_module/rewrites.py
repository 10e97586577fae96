"""Scan rewrites (see module docstring once written)."""
