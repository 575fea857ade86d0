"""Blob stores: opaque bytes under server-made keys, behind one small protocol."""
