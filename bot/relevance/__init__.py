"""Relevance that learns: TF-IDF over stored papers, a linear model per profile, similar papers, library import.

Discord-free. ``vocabulary`` and ``model`` are pure computation (scikit-learn, SciPy); ``recommender`` ties them
to the store and keeps the fitting off the event loop; ``library`` reads BibTeX and Zotero CSV files.
Nothing is re-exported here, so importing ``bot.relevance.library`` does not import scikit-learn.
"""
