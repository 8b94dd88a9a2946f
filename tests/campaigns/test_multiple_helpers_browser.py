"""Headless Chromium: the multiple-push helpers. Choosing a template lists the keys each line
gives and offers a sample file; that sample uploads as it is (a real worker checks it); the page
estimates the reach before sending, and a bad line shows every reason."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from console.celery import app as celery_app
from tests.campaigns.send_fixtures import bind, make_device, make_template


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_keys_sample_file_reach_estimate_and_every_reason(page, login, app, marketer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    make_template(app, "promo")  # "Hi #name#" / "Your code is #code#"
    bind(app, "user-1", make_device(app, "phone-1"))
    login(marketer)
    base = f"/apps/{app.app_key}/send/multiple/"
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["ingest", "default"]
    ):
        page.goto(base)
        expect(page.get_by_test_id("template-keys")).to_have_count(0)
        page.get_by_label("Template").select_option(label="promo")
        keys = page.get_by_test_id("template-keys")
        expect(keys).to_contain_text("Each line gives these 2 keys of the template: name, code")
        with page.expect_download() as download:
            page.get_by_test_id("sample-csv").click()
        sample = tmp_path / "sample.csv"
        download.value.save_as(sample)
        assert sample.read_text().splitlines() == [
            "user-1,promo-0001,name=name-1,code=code-1",
            "user-2,promo-0002,name=name-2,code=code-2",
            "user-3,promo-0003,name=name-3,code=code-3",
        ]

        # The sample is a valid file; only user-1 has a device: the page says so before sending.
        page.get_by_label("File").set_input_files(str(sample))
        page.get_by_role("button", name="Upload and check").click()
        page.get_by_role("button", name="Send 3 messages").wait_for(timeout=30_000)
        expect(page.get_by_test_id("reach-estimate")).to_contain_text(
            "Reach estimate: 1 of the 3 good lines have a device now."
        )
        expect(page.get_by_test_id("reach-estimate")).to_contain_text(
            "The others wait for a device to be bound to their user until they expire."
        )
        expect(page.locator("#upload-progress [role=status]")).to_contain_text("3 lines: 3 good, 0 bad.")

        # A line that repeats an id and misses a key shows both reasons, the duplicate first.
        bad = tmp_path / "bad.csv"
        bad.write_text("user-1,a1,name=A,code=1\nuser-2,a1,name=B\n")
        page.goto(base)
        page.get_by_label("Template").select_option(label="promo")
        page.get_by_label("File").set_input_files(str(bad))
        page.get_by_role("button", name="Upload and check").click()
        page.get_by_test_id("bad-lines").wait_for(timeout=30_000)
        rows = page.get_by_test_id("bad-lines").locator("tbody tr").all_inner_texts()
        assert rows == ["2\tcustomerMsgId is a duplicate of line 1; missing values for: code"]
        expect(page.locator("#upload-progress [role=status]")).to_contain_text("2 lines: 1 good, 1 bad.")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the report of all bad lines").click()
        report = tmp_path / "report.csv"
        download.value.save_as(report)
        assert report.read_text().splitlines() == [
            "Line,Reasons",
            "2,customerMsgId is a duplicate of line 1; missing values for: code",
        ]


def test_sample_file_is_of_a_template_of_the_app(app, other_app, marketer, auditor, client_for):
    from tests.campaigns.send_fixtures import make_template as mt

    foreign = mt(other_app, "theirs")
    c = client_for(marketer)
    url = f"/apps/{app.app_key}/send/multiple/sample.csv"
    # No template chosen: the general format.
    assert c.get(url).content.decode().splitlines()[0] == "user-1,message-0001,key1=key1-1,key2=key2-1"
    assert c.get(url, {"template": "abc"}).status_code == 200
    assert c.get(url, {"template": foreign.pk}).status_code == 404  # another app's template is not found here
    assert client_for(auditor).get(url).status_code == 403
