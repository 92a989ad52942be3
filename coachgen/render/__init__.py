"""Pages -> bytes: Jinja2 templates, filters and shipped assets (templates.py)."""
