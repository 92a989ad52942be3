"""The privacy room: which sites may be published and how (rules.py), passwords (passwords.py)
and encryption (crypto.py). It fails closed."""
