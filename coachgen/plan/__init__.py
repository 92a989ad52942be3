"""Model -> the pages of every site: their kinds (page.py), contexts and keys (pages.py), charts,
calendars, and redirects for addresses that moved (addresses.py)."""
