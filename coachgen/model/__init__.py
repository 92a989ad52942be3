"""Parsed notes -> each client: sessions, actions, games and their pace, insights (clients.py)."""
