"""Console views of the delivery area."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from console.models import App, Perm
from console.permissions import app_permission

from .forms import TestPushForm
from .testpush import test_push_send


@app_permission(Perm.CONFIGURE)
@require_POST
def test_push(request: HttpRequest, app: App) -> HttpResponse:
    """Issue 4 "Test push": send one notification to a typed token, show the gateway's exact answer."""
    form = TestPushForm(request.POST)
    result = None
    if form.is_valid():
        result = test_push_send(
            app=app,
            channel=form.cleaned_data["channel"],
            token=form.cleaned_data["token"],
            package_name=form.cleaned_data["package_name"],
            actor=request.user,
            request=request,
        )
    return render(request, "campaigns/_test_push.html", {"app": app, "form": form, "result": result})
