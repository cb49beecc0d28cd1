"""Mouth-ROI extraction: MediaPipe landmarks -> the official 96x96 grayscale crops at 25 fps."""
