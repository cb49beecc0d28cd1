"""IIANet and IIANet-fast (ICML 2024): intra- and inter-modality attention separators."""
