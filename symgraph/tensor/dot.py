"""Dot products (placeholder)."""
from __future__ import annotations
