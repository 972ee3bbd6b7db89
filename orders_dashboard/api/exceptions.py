"""API errors of our own (besides DRF's and the orders domain errors); kept free of imports of DRF's views,
which the parsers would otherwise import in a circle."""

from rest_framework import exceptions, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class MalformedPayload(exceptions.ParseError):
    default_code = "malformed_payload"
