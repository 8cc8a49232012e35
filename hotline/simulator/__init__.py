"""The call simulator: a simulated carrier placing calls into the hotline, simulated agent phones
that register and answer, simulated residents answering outbound calls -- all inside the sandbox
Asterisk (``asterisk_conf/sandbox/``), driven over AMI.  Simulator-only code: the product's AMI
client lives in ``callcenter/``.
"""
