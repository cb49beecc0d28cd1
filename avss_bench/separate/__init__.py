"""`avss-bench separate`: each visible speaker's voice from a user's own video."""
