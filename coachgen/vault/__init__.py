"""Reading the vault: where things are (paths.py), its files and their stamps (files.py), its
settings (config.py) and when git last changed each note (history.py)."""
