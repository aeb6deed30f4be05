"""Temporary re-export; the normalised activity lives in `analysis.activity` (layering)."""

from analysis.activity import SAMPLE_COLUMNS, DecodedActivity, DecodedFile

__all__ = ["SAMPLE_COLUMNS", "DecodedActivity", "DecodedFile"]
