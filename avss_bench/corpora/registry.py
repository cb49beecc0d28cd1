"""The corpus registry: `avss-bench prepare <corpus>` subcommands are generated from it.

Corpora register through the entry-point group `avss_bench.corpora`
(`name = "package.module:CorpusClass"`), the bundled modules exactly like a user's plugin would.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from avss_bench.core.errors import AvssError

GROUP = "avss_bench.corpora"


class CorpusRegistry:
    """Corpus classes by name, filled from the `avss_bench.corpora` entry points."""

    def entries(self) -> dict[str, str]:
        found = {}
        for ep in entry_points(group=GROUP):
            found[ep.name] = ep.value
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        return list(self.entries())

    def get(self, name: str) -> type:
        """The corpus class registered as `name`."""
        from avss_bench.models.registry import import_object

        entries = self.entries()
        if name not in entries:
            raise AvssError(f"unknown corpus '{name}'; registered: {', '.join(entries)}")
        return import_object(entries[name])


corpora = CorpusRegistry()


def get_corpus(name: str, root) -> object:
    """Instantiate the corpus `name` on the raw corpus at `root`."""
    return corpora.get(name)(root)
