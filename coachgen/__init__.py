"""coachgen: a coach's Markdown vault becomes one private static website per client."""

__version__ = "0.1.0"
