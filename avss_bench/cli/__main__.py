"""`python -m avss_bench.cli` (what torchrun launches): the same CLI as `avss-bench`."""

from avss_bench.cli import main

main(prog_name="avss-bench")
