"""Segments API (``/api/v1/segments``), on the API foundation of ``orders_dashboard.api``."""
