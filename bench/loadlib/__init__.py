"""Helpers of the load bench (bench/load.py): its own instance and server, the HTTP client
that plays recipients and attackers, and the statistics it prints."""
