"""Separation metrics: SI-SNR, SDR (BSS-Eval v3), PESQ, STOI/ESTOI and utterance scoring."""
