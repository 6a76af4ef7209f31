"""Faithfulness tests outside the metric TRACE optimises (placeholder; filled in below)."""
