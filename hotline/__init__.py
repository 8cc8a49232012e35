"""Composition root of the 96345 hotline: configuration, the ``hotline`` CLI and the
Asterisk sandbox.  It is the only package that may import both ``agi_scripts`` and
``callcenter``; nothing in the four product packages imports it."""
