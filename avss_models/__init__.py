"""The separators bundled with avss-bench, one subpackage per model family.

Each subpackage imports only `avss_bench.models` and registers through the
`avss_bench.separators` entry points, exactly as a user's plugin does; `avss_bench` never
imports them by name.
"""
