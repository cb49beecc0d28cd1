"""Recipes: per-corpus preparation settings, training configs and the papers reported numbers."""
