"""Loopback stand-ins for the services paperbot talks to, for tests, benchmarks and ``paperbot demo``.

``emulator`` is a Discord (REST + gateway) the real discord.py client runs against; ``fakes`` serve the paper
sources (Hugging Face, arXiv, RSS/Atom feeds); ``world`` starts them together and builds servers to use.
Nothing here is imported by the bot itself.
"""
