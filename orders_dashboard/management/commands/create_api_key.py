"""``manage.py create_api_key NAME``: make an API key for automation and print its app id and token."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from orders_dashboard.api.authentication import APP_ID_HEADER, TOKEN_HEADER
from orders_dashboard.api.keys import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key named NAME and print its app id and token (the token is shown only this once). "
        "Order activity names the key as who made each change."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'Web shop backend'.")
        parser.add_argument("--created-by", metavar="USERNAME", help="Record this user as the key's creator.")

    def handle(self, *args, name: str, created_by: str | None = None, **options):
        user = None
        if created_by:
            user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: created_by}).first()
            if user is None:
                raise CommandError(f"No user named {created_by!r}.")
        try:
            new = api_key_create(name=name, created_by=user)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # One "Header: value" per line, so scripts can read them (and a person can paste them into a client).
        self.stdout.write(f"{APP_ID_HEADER}: {new.key.app_id}")
        self.stdout.write(f"{TOKEN_HEADER}: {new.token}")
        self.stderr.write("Keep the token secret; it cannot be shown again.")
