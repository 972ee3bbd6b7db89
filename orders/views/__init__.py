"""Orders pages, one module per area: list.py (the list), detail.py (one order and its tabs), form.py
(the "+" form and editing)."""
