"""Manifest schema and the demo corpus manifests (data folder, importable for packaging)."""
