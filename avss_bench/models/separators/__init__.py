"""Small separators that ship inside avss_bench (the demo model)."""
