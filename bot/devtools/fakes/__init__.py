"""Loopback paper sources: Hugging Face's daily papers API, arXiv's RSS listings and generic RSS/Atom feeds."""
