"""An example avss-bench plugin: `masknet` (separator), `energy_ratio` (metric), `flatfaces`
(corpus)."""
