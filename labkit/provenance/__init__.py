"""Provenance: the invisible watermark every labkit video carries."""
