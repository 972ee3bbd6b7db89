from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

USERNAME = "demo-admin"
PASSWORD = "demo-admin"  # noqa: S105 - a local demo login, created only with DEBUG on


class Command(BaseCommand):
    help = "Create the local demo Admin user when no Admin exists (DEBUG only) and print its login."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Refusing to create a demo user with a known password while DEBUG is off.")
        User = get_user_model()
        admins = User.objects.filter(is_superuser=True) | User.objects.filter(groups__name="Admin")
        if not admins.exists():
            user = User.objects.create_superuser(USERNAME, f"{USERNAME}@example.com", PASSWORD)
            user.groups.add(Group.objects.get(name="Admin"))
            self.stdout.write(self.style.SUCCESS("Created the demo Admin user."))
        if User.objects.filter(username=USERNAME).exists():
            self.stdout.write(f"Demo login: {USERNAME} / {PASSWORD}")
        else:
            self.stdout.write("An Admin user exists already; sign in with it.")
