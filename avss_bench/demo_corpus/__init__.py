"""The embedded demo corpus: talking faces with speech-like audio, generated from a seed."""
