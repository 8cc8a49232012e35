"""The Asterisk sandbox: Asterisk 22 from Debian's packages in a local root, run with the project's
``asterisk_conf/`` and generated site files; or the operator's own Asterisk (``asterisk_mode =
"system"``) run with the same configuration.

Entry points build a :class:`~hotline.sandbox.runner.Sandbox` from the settings; nothing here runs
at import time.
"""
