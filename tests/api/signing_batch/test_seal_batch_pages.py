"""``/sign/seal-batch``: the upload form and progress page a CA operator uses in a browser, in
Khmer and English, without JavaScript (the refreshable status page) and with it (the status
the script polls)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.signing_batch import seal_batches
from api.routers.signing_batch_text import texts
from tests.api.signing_batch.conftest import Browser, Sealers, account_for
from tests.api.signing_batch.test_seal_batch_api import BROKEN
from tests.signing._pdf import make_pdf

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:400]
    return found.group(1)


def _upload(client: TestClient, entity: str, lang: str = "en", csrf: str | None = None) -> str:
    form = client.get(f"/sign/seal-batch?lang={lang}")
    assert form.status_code == 200, form.text
    token = _csrf(form.text) if csrf is None else csrf
    files = [("files", ("permit.pdf", make_pdf(text="Permit"), "application/pdf")),
             ("files", ("torn.pdf", BROKEN, "application/pdf"))]  # fmt: skip
    posted = client.post(
        "/sign/seal-batch",
        files=files,
        data={"csrf_token": token, "lang": lang, "entity": entity, "level": "B-B"},
    )
    assert posted.status_code == 303, posted.text
    return str(posted.headers["location"])


def test_without_login_the_page_sends_to_login(http: TestClient) -> None:
    response = http.get("/sign/seal-batch", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/sign/seal-batch"


def test_a_citizen_without_the_operator_role_is_refused(ctx: AppContext, browser: Browser) -> None:
    client = browser(account_for(ctx, None))
    response = client.get("/sign/seal-batch?lang=en")
    assert response.status_code == 403
    assert texts("en")["not_allowed"] in response.text


@pytest.mark.parametrize("lang", ["km", "en"])
def test_operator_uploads_sees_progress_and_downloads(
    ctx: AppContext, browser: Browser, sealers: Sealers, lang: str
) -> None:
    t = texts(lang)
    # Counts in the running text are written in the page's digits (Khmer ones on a Khmer page).
    one, two = ("១", "២") if lang == "km" else ("1", "2")
    client = browser(account_for(ctx, sealers.operator_id))
    form = client.get(f"/sign/seal-batch?lang={lang}")
    assert f'<html lang="{lang}">' in form.text
    assert t["batch_title"] in form.text and t["field_files"] in form.text
    assert '<label for="files">' in form.text and "multiple" in form.text

    page_url = _upload(client, sealers.entity_id, lang)
    page = client.get(page_url)
    assert page.status_code == 200
    assert t["state_finished"] in page.text
    assert t["counts"].format(sealed=one, failed=one) in page.text
    assert t["progress_count"].format(done=two, total=two) in page.text
    assert "permit.pdf" in page.text and "torn.pdf" in page.text
    assert t["file_failed"] in page.text
    assert t["download"] in page.text and "<script" not in page.text  # nothing left to poll

    batch_id = page_url.split("/")[-1].split("?")[0]
    status = client.get(f"/sign/seal-batch/{batch_id}/status.json?lang={lang}").json()
    assert (status["done"], status["total"], status["state"]) == (2, 2, "finished")
    assert status["count_text"] == t["progress_count"].format(done=two, total=two)
    assert [f["label"] for f in status["files"]] == [t["file_sealed"], t["file_failed"]]
    result = client.get(f"/sign/seal-batch/{batch_id}/result.zip")
    assert result.status_code == 200
    assert sorted(zipfile.ZipFile(io.BytesIO(result.content)).namelist()) == [
        "permit.pdf", "report.json",
    ]  # fmt: skip


def test_running_batch_page_polls_with_a_script_and_offers_a_refresh_link(
    ctx: AppContext, browser: Browser, sealers: Sealers
) -> None:
    from signing.batch import Upload

    batch = seal_batches(ctx).create(
        sealers.entity_id, [Upload("a.pdf", io.BytesIO(make_pdf()))], owner=sealers.operator_id
    )
    client = browser(account_for(ctx, sealers.operator_id))
    page = client.get(f"/sign/seal-batch/{batch.id}?lang=en")
    assert texts("en")["state_running"] in page.text
    assert f'href="/sign/seal-batch/{batch.id}?lang=en"' in page.text  # works without JS
    assert '<script src="/sign/seal-batch.js" defer></script>' in page.text
    assert "result.zip" not in page.text
    script = client.get("/sign/seal-batch.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "status" in script.text and "progress" in script.text
    # The download is not offered before the end.
    assert client.get(f"/sign/seal-batch/{batch.id}/result.zip").status_code == 404


def test_form_without_csrf_token_is_refused_and_stores_nothing(
    ctx: AppContext, browser: Browser, sealers: Sealers
) -> None:
    client = browser(account_for(ctx, sealers.operator_id))
    client.get("/sign/seal-batch?lang=en")
    response = client.post(
        "/sign/seal-batch",
        files=[("files", ("a.pdf", make_pdf(), "application/pdf"))],
        data={"csrf_token": "forged", "lang": "en", "entity": sealers.entity_id},
    )
    assert response.status_code == 403
    assert not (ctx.settings.data_dir / "seal-batches").exists()


def test_bad_entity_shows_the_form_again_with_the_reason(
    ctx: AppContext, browser: Browser, sealers: Sealers
) -> None:
    client = browser(account_for(ctx, sealers.operator_id))
    token = _csrf(client.get("/sign/seal-batch?lang=en").text)
    response = client.post(
        "/sign/seal-batch",
        files=[("files", ("a.pdf", make_pdf(), "application/pdf"))],
        data={"csrf_token": token, "lang": "en", "entity": "no-such-entity"},
    )
    assert response.status_code == 404
    assert texts("en")["invalid_batch"] in response.text
    assert 'value="no-such-entity"' in response.text  # what was typed is kept


def test_another_operators_batch_is_not_found(
    ctx: AppContext, browser: Browser, sealers: Sealers
) -> None:
    owner = browser(account_for(ctx, sealers.operator_id))
    page_url = _upload(owner, sealers.entity_id)
    from core.operators import OperatorRole
    from tests.api._ra import operator_token

    other_id, _ = operator_token(ctx, "third.ops", OperatorRole.CA_OPERATOR)
    other = browser(account_for(ctx, other_id, name="Other Person"))
    assert other.get(page_url).status_code == 404
    batch_id = page_url.split("/")[-1].split("?")[0]
    assert other.get(f"/sign/seal-batch/{batch_id}/result.zip").status_code == 404
    assert other.get(f"/sign/seal-batch/{batch_id}/status.json").status_code == 404
