"""Indexing ops (placeholder: basic getitem is defined by the subtensor module owner)."""
from __future__ import annotations


def getitem(x, idx):
    raise NotImplementedError("indexing is not implemented yet")
