"""Notes -> typed values: front-matter (meta.py), Markdown (markdown.py), Tasks lines (tasks.py),
repeat rules (recurrence.py), and one note whole (notes.py)."""
