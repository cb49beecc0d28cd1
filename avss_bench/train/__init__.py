"""`avss-bench train`: recipe configs, the loss, and the (DDP-ready) training loop."""
