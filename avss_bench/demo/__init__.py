"""`avss-bench demo`: the generated demo corpus and the end-to-end run over every stage."""
