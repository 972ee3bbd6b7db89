"""The Orders API (Voucherify's Orders API contract): serializers, reads and views for orders and customers.
Mounted under /api/v1 by orders_dashboard.api.urls."""
