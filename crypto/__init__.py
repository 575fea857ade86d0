"""Postbox cryptography: recipes named by use, built on pyca/cryptography's vetted constructions.

Pure: imports nothing else of ours and does no I/O beyond the streams it is handed.
Threat model: a stolen database, a stolen bucket, or both without the service pepper and the
recipient's PIN must reveal no document, subject or file name and allow no offline PIN guessing.
"""
