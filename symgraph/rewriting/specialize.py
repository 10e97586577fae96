"""Specialization: replace general forms by faster specific ops (e.g. dot + add -> gemm)."""
from __future__ import annotations
