"""Corpus recipes: one module per corpus, found through a registry (`prepare <corpus>`)."""
