from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery.tasks import deliver_task_stop
from campaigns.models import Delivery, Message, PushTask
from console.models import AuditEntry
from tests.factories_campaigns import DeliveryFactory, MessageFactory, PushTaskFactory

pytestmark = pytest.mark.django_db


def _url(app, **params):
    from urllib.parse import urlencode

    return reverse("campaigns:task-list", kwargs={"app_key": app.app_key}) + ("?" + urlencode(params) if params else "")


def _names(response):
    return [t.name for t in response.context["page"].rows]


def test_lists_every_send_with_figures_sender_and_a_link_to_its_page(app, marketer, client_for):
    from tests.factories import UserFactory

    sender = UserFactory(username="sally_sender")
    simple = PushTaskFactory(
        app=app, name="simple one", push_type="SIMPLE", created_at=timezone.now() - timedelta(hours=1)
    )
    PushTaskFactory(app=app, name="continuous", push_type="CONTINUOUS", created_at=timezone.now() - timedelta(hours=2))
    now = timezone.now()
    PushTaskFactory(
        app=app, name="multi", push_type="MULTIPLE", created_by=sender, pushed=10, succeeded=9, arrived=8, opened=3,
        started_at=now - timedelta(seconds=75), finished_at=now, created_at=now - timedelta(minutes=1),
    )  # fmt: skip
    PushTaskFactory(app=app, name="bcast", push_type="BROADCAST", source="api", api_caller="key-abc")
    response = client_for(marketer).get(_url(app))
    # Simple and continuous sends are listed too: every send has a row that opens its live page.
    assert _names(response) == ["bcast", "multi", "simple one", "continuous"]
    html = response.content.decode()
    task_page = reverse("campaigns:send-task", kwargs={"app_key": app.app_key, "task_id": simple.pk})
    assert f'href="{task_page}"' in html
    assert "sally_sender" in html and "API key-abc" in html and "0:01:15" in html
    assert "<td>10</td><td>9</td><td>8</td><td>3</td>" in html


def test_search_by_id_name_and_start_date(app, auditor, client_for):
    now = timezone.now()
    t1 = PushTaskFactory(app=app, name="Spring sale", created_at=now)
    PushTaskFactory(app=app, name="Autumn sale", created_at=now - timedelta(days=3))
    c = client_for(auditor)
    assert _names(c.get(_url(app, task_id=t1.pk))) == ["Spring sale"]
    assert _names(c.get(_url(app, name="spring"))) == ["Spring sale"]
    day = timezone.localdate(now - timedelta(days=3))
    assert _names(c.get(_url(app, started=day.isoformat()))) == ["Autumn sale"]
    bad = c.get(_url(app, task_id="abc"))
    assert bad.status_code == 200 and bad.context["form"].errors["task_id"]


def test_running_task_polls_its_progress(app, auditor, client_for):
    task = PushTaskFactory(app=app, status="running", target_count=200, pushed=50)
    c = client_for(auditor)
    html = c.get(_url(app)).content.decode()
    assert 'hx-trigger="every 2s"' in html and 'value="25"' in html
    url = reverse("campaigns:task-progress", kwargs={"app_key": app.app_key, "task_id": task.pk})
    PushTask.objects.filter(pk=task.pk).update(pushed=150)
    assert 'value="75"' in c.get(url).content.decode()
    PushTask.objects.filter(pk=task.pk).update(pushed=200, status="finished")
    done = c.get(url).content.decode()
    assert "every 2s" not in done and "Finished" in done


def test_marketer_stops_a_running_task_and_open_messages_are_cancelled(app, marketer, client_for):
    task = PushTaskFactory(app=app, status="running")
    done = MessageFactory(app=app, task=task, push_type="MULTIPLE", state="accepted")
    waiting = MessageFactory(app=app, task=task, push_type="MULTIPLE", state="waiting")
    d_wait = DeliveryFactory(message=waiting, state="waiting")
    c = client_for(marketer)
    html = c.get(_url(app)).content.decode()
    assert "Stop" in html
    url = reverse("campaigns:task-stop", kwargs={"app_key": app.app_key, "task_id": task.pk})
    response = c.post(url, follow=True)
    assert "stopped; 1 messages cancelled" in response.content.decode()
    task.refresh_from_db()
    assert task.status == "stopped" and task.finished_at
    deliver_task_stop(task.pk)  # what the request queued: a worker cancels the open messages
    assert Message.objects.get(pk=done.pk).state == "accepted"
    assert Message.objects.get(pk=waiting.pk).state == "cancelled"
    assert Delivery.objects.get(pk=d_wait.pk).state == "cancelled"
    entry = AuditEntry.objects.get(action="send.stop")
    assert entry.actor == marketer and entry.summary["messages_cancelled"] == 1
    # A second stop is refused with a message and changes nothing.
    again = c.post(url, follow=True)
    assert "can no longer be stopped" in again.content.decode()
    assert AuditEntry.objects.filter(action="send.stop").count() == 1


def test_auditor_cannot_stop_and_sees_no_button(app, auditor, client_for):
    task = PushTaskFactory(app=app, status="running")
    message = MessageFactory(app=app, task=task, push_type="MULTIPLE", state="waiting")
    c = client_for(auditor)
    assert "Stop this task" not in c.get(_url(app)).content.decode()
    url = reverse("campaigns:task-stop", kwargs={"app_key": app.app_key, "task_id": task.pk})
    assert c.post(url).status_code == 403
    task.refresh_from_db()
    message.refresh_from_db()
    assert task.status == "running" and message.state == "waiting"
    assert not AuditEntry.objects.filter(action="send.stop").exists()


def test_task_of_another_app_cannot_be_stopped(app, other_app, marketer, client_for):
    foreign = PushTaskFactory(app=other_app, status="running")
    url = reverse("campaigns:task-stop", kwargs={"app_key": app.app_key, "task_id": foreign.pk})
    assert client_for(marketer).post(url).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "running"
