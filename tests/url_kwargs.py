"""How the URL walk fills each URL keyword. Add a line when a view takes a new one.

Each factory gets the app under test and returns the value for the keyword.
"""

from __future__ import annotations

from console.models import ChannelPackage, Membership


def _membership_id(app):
    return Membership.objects.filter(app=app).order_by("pk").first().pk


def _user_id(app):
    return Membership.objects.filter(app=app).order_by("pk").first().user_id


def _walk_template(app):
    """A template with an uploaded icon and image, used by a scheduled send (so the walk cannot delete it)."""
    from campaigns.models import PushTask, TaskStatus
    from templates_app.models import Template
    from tests.templates_app.helpers import make_template

    template = Template.objects.live().filter(app=app, name="walk_template").first()
    if template is None:
        template = make_template(app, name="walk_template", with_images=True)
        PushTask.objects.create(
            app=app,
            name="walk send",
            push_type="TEMPLATE",
            source="console",
            template_version=template.current_version,
            status=TaskStatus.SCHEDULED,
        )
    return template


def _template_id(app):
    return _walk_template(app).pk


def _version_id(app):
    return _walk_template(app).current_version_id


def _package_id(app):
    package, _created = ChannelPackage.objects.get_or_create(app=app, package_name=f"{app.android_package}.extra")
    return package.pk


def _upload_id(app):
    from campaigns.models import SendUpload

    return SendUpload.objects.create(app=app, kind="csv", original_name="walk.csv", status="invalid").pk


def _task_id(app):
    from campaigns.models import PushTask

    return PushTask.objects.create(app=app, name="walk", push_type="SIMPLE", source="console", status="scheduled").pk


def _message_id(app):
    from tests.factories_campaigns import MessageFactory

    return MessageFactory(app=app).pk


KWARG_FACTORIES = {
    "template_id": _template_id,
    "version_id": _version_id,
    "package_id": _package_id,
    "vendor": lambda app: "huawei",
    "upload_id": _upload_id,
    "task_id": _task_id,
    "membership_id": _membership_id,
    "user_id": _user_id,
    "message_id": _message_id,
}

# Views any signed-in user may use (personal preferences, the app list).
LOGIN_ONLY = {"console:home", "console:app-create", "console:profile", "console:set-language"}
# The second sign-in step and authenticator enrolment (every signed-in user).
LOGIN_ONLY |= {"console:two-factor", "console:two-factor-setup"}


def _access_key_id(app):
    from console.acs.models import AccessKey

    user = Membership.objects.filter(app=app).order_by("pk").first().user
    return AccessKey.objects.get_or_create(user=user)[0].pk


KWARG_FACTORIES["key_id"] = _access_key_id
# A person's own AccessKeys (any signed-in user; another person's key is a 404).
LOGIN_ONLY |= {
    "console:access-keys",
    "console:access-key-disable",
    "console:access-key-enable",
    "console:access-key-delete",
}
