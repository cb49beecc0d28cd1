"""`avss-bench evaluate`, `profile` and `table`: scoring a split with a separator, Params/MACs/
latency, and the leaderboard with its plots."""
