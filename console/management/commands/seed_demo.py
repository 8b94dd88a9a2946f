"""Seed a demo: one sandbox app, one user per role, a few sandbox devices and a template.

Idempotent: running it again changes nothing that is already there.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns.models import Device, Platform, UserBinding
from console import services
from console.models import App, Membership, Role, UserProfile
from templates_app.models import Template, TemplateVersion

DEMO_PASSWORD = "pushdeck-demo"
DEMO_USERS = [
    ("admin", Role.CHANNEL_ADMIN, True),
    ("marketer", Role.MARKETER, False),
    ("auditor", Role.AUDITOR, False),
]
DEMO_APP_NAME = "Demo App"


class Command(BaseCommand):
    help = "Create the demo app, users, devices and template (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")

    @transaction.atomic
    def handle(self, *args, quiet: bool = False, **options):
        User = get_user_model()
        users = {}
        for username, _role, superuser in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.user_create(username=username, password=DEMO_PASSWORD, is_superuser=superuser)
            UserProfile.objects.get_or_create(user=user)
            users[username] = user
        app = App.objects.filter(name=DEMO_APP_NAME, sandbox=True).first()
        if app is None:
            app = services.app_create(
                name=DEMO_APP_NAME,
                android_package="com.example.pushdeck.demo",
                ios_bundle_id="com.example.pushdeck.demo",
                creator=users["admin"],
                sandbox=True,
            )
        for username, role, _superuser in DEMO_USERS:
            Membership.objects.get_or_create(user=users[username], app=app, defaults={"role": role})
        for i in range(1, 6):
            platform = Platform.IOS if i % 2 == 0 else Platform.ANDROID
            device, _created = Device.objects.get_or_create(
                app=app,
                device_id=f"demo-device-{i:02d}",
                defaults={
                    "platform": platform,
                    "manufacturer": "Apple" if platform == Platform.IOS else "Google",
                    "apns_token": (f"{i:02d}" * 32) if platform == Platform.IOS else "",
                    "app_version": "1.0.0",
                    "account": f"demo-account-{i:02d}",
                },
            )
            UserBinding.objects.get_or_create(app=app, user_id=f"demo-user-{i:02d}", device=device)
        if not Template.objects.filter(app=app, name="welcome").exists():
            template = Template.objects.create(app=app, name="welcome", created_by=users["marketer"])
            version = TemplateVersion.objects.create(
                template=template,
                number=1,
                description="Welcome message",
                title="Hello #name#",
                body="Welcome to #product#, #name#!",
                created_by=users["marketer"],
            )
            template.current_version = version
            template.save(update_fields=["current_version"])
        if not quiet:
            self.stdout.write(f"Demo app: {app.name} (AppKey {app.app_key})")
            for username, role, _superuser in DEMO_USERS:
                self.stdout.write(f"  login {username} / {DEMO_PASSWORD}  ({role.label})")
            self.stdout.write(
                "  send to user ids demo-user-01 ... demo-user-05 (bound to devices demo-device-01 ... 05,"
                " odd ones Android, even ones iOS); template 'welcome' takes name=... and product=..."
            )
