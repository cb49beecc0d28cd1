"""`avss-bench robustness`: how a separator holds up under damaged video and harder corpora.

`grid` names the conditions (visual damage applied at evaluation time, and other prepared
folders such as a noisy or 3-speaker copy of the corpus), `run` evaluates each into its own
results folder and writes `robustness.csv`, `plot` draws SI-SNRi against each condition's
parameter, and `table` renders the robustness view of `avss-bench table`.
"""
