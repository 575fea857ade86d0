"""The ``postbox`` command line: thin, each command calls one service."""
