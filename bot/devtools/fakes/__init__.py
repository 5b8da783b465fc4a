"""Loopback paper sources: Hugging Face's daily papers API, arXiv's RSS listings and generic RSS/Atom feeds, and
what a hostile source sends (``hostile``: gzip bombs, poisoned items, bodies that break decoders)."""
