"""Data loading for training and evaluation: manifest-backed datasets and samplers."""
