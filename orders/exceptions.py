"""Domain errors raised by the orders services. Each carries a stable ``code`` for the API envelope and
``errors``: a mapping of field path (``items[0].quantity``) to messages, for forms and JSON bodies."""


class OrdersError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class InvalidInput(OrdersError):
    """The input names a bad value; ``errors`` maps each field path to what is wrong with it."""

    code = "invalid_payload"

    def __init__(self, errors: dict[str, list[str]], message: str | None = None):
        if message is None:
            first_path, first_messages = next(iter(errors.items()))
            message = f"{first_path}: {first_messages[0]}" if first_path else first_messages[0]
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more)"
        super().__init__(message, errors=errors)


class NotFound(OrdersError):
    code = "not_found"
    status = 404

    def __init__(self, resource_type: str, resource_id: str):
        super().__init__(f"Cannot find {resource_type} with id {resource_id}")
        self.resource_type = resource_type
        self.resource_id = resource_id


class InvalidStatusTransition(OrdersError):
    code = "invalid_status_transition"

    def __init__(self, current: str, requested: str):
        if current == "CANCELED":
            message = f"The order is CANCELED, which is final: it cannot move to {requested}."
        else:
            message = f"The order cannot move from {current} to {requested}."
        super().__init__(message, errors={"status": [message]})
        self.current = current
        self.requested = requested


class VersionConflict(OrdersError):
    code = "version_conflict"
    status = 409

    def __init__(self, order_id: str, expected: int, actual: int):
        super().__init__(
            f"Order {order_id} was changed by someone else (you saw version {expected}, it is now at "
            f"version {actual}). Reload it and apply your change again."
        )
        self.expected = expected
        self.actual = actual


class RedemptionNotRollbackable(OrdersError):
    def __init__(self, redemption_id: str, status: str):
        if status == "ROLLED_BACK":
            self.code = "already_rolled_back"
            message = f"Redemption {redemption_id} has already been rolled back."
        else:
            self.code = "redemption_not_succeeded"
            message = f"Redemption {redemption_id} is {status}; only a SUCCEEDED redemption can be rolled back."
        super().__init__(message)
