"""The REST API's shared machinery: API keys and their authentication, the error envelope, request ids,
JSON parsing, the base view, the OpenAPI schema and docs page, and the /api URL tree. Each app's endpoints
live in that app (``orders.api``) and plug in through ``orders_dashboard.api.urls.V1``."""
