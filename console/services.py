"""Writes of the console app: apps, secrets, members, users, profiles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from . import crypto
from .audit import audit_record
from .models import App, ChannelPackage, KeyConfig, Membership, Role, UserProfile, new_app_secret

User = get_user_model()


@transaction.atomic
def app_create(
    *,
    name: str,
    android_package: str = "",
    ios_bundle_id: str = "",
    creator,
    request: HttpRequest | None = None,
    sandbox: bool = False,
) -> App:
    """Create an app; its creator becomes its channel admin."""
    app = App.objects.create(
        name=name, android_package=android_package, ios_bundle_id=ios_bundle_id, created_by=creator, sandbox=sandbox
    )
    if android_package:
        ChannelPackage.objects.create(app=app, package_name=android_package, is_main=True)
    KeyConfig.objects.create(app=app)
    if creator is not None:
        Membership.objects.get_or_create(user=creator, app=app, defaults={"role": Role.CHANNEL_ADMIN})
    transaction.on_commit(lambda: _enqueue_keypair(app.pk))
    audit_record(
        action="app.create",
        actor=creator,
        app=app,
        target=app.app_key,
        request=request,
        summary={"after": {"name": name, "android_package": android_package, "ios_bundle_id": ios_bundle_id}},
    )
    return app


@transaction.atomic
def app_update(*, app: App, actor, request: HttpRequest | None = None, **fields) -> App:
    before = {k: getattr(app, k) for k in fields}
    for key, value in fields.items():
        setattr(app, key, value)
    app.save(update_fields=list(fields))
    if fields.get("android_package"):
        ChannelPackage.objects.filter(app=app, is_main=True).exclude(package_name=app.android_package).update(
            is_main=False
        )
        ChannelPackage.objects.update_or_create(app=app, package_name=app.android_package, defaults={"is_main": True})
    audit_record(
        action="app.update",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"before": before, "after": fields},
    )
    return app


def app_secret_reveal(*, app: App, actor, request: HttpRequest | None = None) -> str:
    """Return the AppSecret for an explicit reveal; the reveal itself is audited."""
    audit_record(
        action="app.secret_reveal",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"fingerprint": crypto.fingerprint(app.app_secret)},
    )
    return app.app_secret


@transaction.atomic
def app_secret_rotate(*, app: App, actor, request: HttpRequest | None = None) -> App:
    """Issue a new AppSecret; the old one stops working at once."""
    old_fp = crypto.fingerprint(app.app_secret)
    app.app_secret = new_app_secret()
    app.app_secret_rotated_at = timezone.now()
    app.save(update_fields=["app_secret", "app_secret_rotated_at"])
    audit_record(
        action="app.secret_rotate",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"before": old_fp, "after": crypto.fingerprint(app.app_secret)},
    )
    return app


@transaction.atomic
def membership_set(*, app: App, user, role: str, actor, request: HttpRequest | None = None) -> Membership:
    membership, created = Membership.objects.get_or_create(user=user, app=app, defaults={"role": role})
    before = None if created else membership.role
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(
        action="member.add" if created else "member.change",
        actor=actor,
        app=app,
        target=user.get_username(),
        request=request,
        summary={"before": before, "after": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor, request: HttpRequest | None = None) -> None:
    app, username, role = membership.app, membership.user.get_username(), membership.role
    membership.delete()
    audit_record(
        action="member.remove",
        actor=actor,
        app=app,
        target=username,
        request=request,
        summary={"before": role, "after": None},
    )


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    is_superuser: bool = False,
    actor=None,
    request: HttpRequest | None = None,
    timezone_name: str = "UTC",
    language: str = "",
):
    user = User.objects.create_user(username=username, password=password, email=email)
    if is_superuser:
        user.is_superuser = True
        user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    UserProfile.objects.create(user=user, timezone=timezone_name, language=language)
    audit_record(
        action="user.create",
        actor=actor,
        target=username,
        request=request,
        summary={"after": {"username": username, "superuser": is_superuser}},
    )
    return user


@transaction.atomic
def user_update(*, user, actor, request: HttpRequest | None = None, **fields):
    before = {k: getattr(user, k) for k in fields}
    for key, value in fields.items():
        setattr(user, key, value)
    if "is_superuser" in fields:
        user.is_staff = fields["is_superuser"]
    user.save()
    audit_record(
        action="user.update",
        actor=actor,
        target=user.get_username(),
        request=request,
        summary={"before": before, "after": fields},
    )
    return user


def profile_update(*, user, timezone_name: str | None = None, language: str | None = None) -> UserProfile:
    profile, _created = UserProfile.objects.get_or_create(user=user)
    if timezone_name is not None:
        profile.timezone = timezone_name
    if language is not None:
        profile.language = language
    profile.save()
    return profile


def _enqueue_keypair(app_id: int) -> None:
    from .tasks import generate_receipt_keypair

    generate_receipt_keypair.delay(app_id)


def receipt_keypair_generate(*, app: App, only_if_missing: bool = False, actor=None, request=None) -> KeyConfig:
    """(Re)generate the console RSA pair that signs delivery receipts for the app."""
    from .keys import generate_rsa_pair

    private_pem, public_pem = generate_rsa_pair()
    with transaction.atomic():
        config, _created = KeyConfig.objects.select_for_update().get_or_create(app=app)
        if only_if_missing and config.console_public_key:
            return config
        before = crypto.fingerprint(config.console_public_key) if config.console_public_key else None
        config.console_private_key = private_pem
        config.console_public_key = public_pem
        config.console_key_created_at = timezone.now()
        config.save(update_fields=["console_private_key", "console_public_key", "console_key_created_at"])
        audit_record(
            action="keys.receipt_keypair",
            actor=actor,
            actor_label="" if actor or request else "system",
            app=app,
            target=app.app_key,
            request=request,
            summary={"before": before, "after": crypto.fingerprint(public_pem)},
        )
    return config
