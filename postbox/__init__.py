"""Postbox domain and application services.

Owns the rules: who may receive, how a document is delivered and opened, what evidence is
kept. Knows nothing of HTTP or the command line; those live in web/ and cli/.
"""
