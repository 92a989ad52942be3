"""The build: its stages as a named pipeline and the Builder that keeps what one build lends the
next (site.py), page keys (keys.py), the output folder (output.py), both cores (parallel.py) and
the whole-vault nothing-changed answer (unchanged.py)."""
