"""For the coach at work and for benchmarks: `watch` (watch.py), the preview server (serve.py) and
the synthetic vaults (synthetic.py)."""
