"""``GET /api/jobs`` and ``GET /api/jobs/{id}``: a shop follows its own jobs."""

from __future__ import annotations

from plugin.jobs import run_pending
from tests.conftest import auth
from tests.jobs.conftest import add_job


def echo(job, report):
    report(job.total)
    return {"echo": job.params}


def test_a_job_shows_kind_status_progress_attempts_and_result(app, client, shop_id, register):
    register.kind("test.echo", echo)
    job_id = add_job(app, shop_id, "test.echo", {"n": 1}, total=3)
    queued = client.get(f"/api/jobs/{job_id}", headers=auth())
    assert queued.status_code == 200
    body = queued.get_json()
    assert {k: body[k] for k in ("id", "kind", "status", "progress", "total", "attempts")} == {
        "id": job_id,
        "kind": "test.echo",
        "status": "queued",
        "progress": 0,
        "total": 3,
        "attempts": 0,
    }
    assert body["max_attempts"] == 5 and body["result"] is None and body["error"] is None
    assert body["started_at"] is None and body["finished_at"] is None
    assert body["created_at"].endswith("Z") and body["available_at"].endswith("Z")

    run_pending(app)
    done = client.get(f"/api/jobs/{job_id}", headers=auth()).get_json()
    assert (done["status"], done["progress"], done["attempts"]) == ("succeeded", 3, 1)
    assert done["result"] == {"echo": {"n": 1}}
    assert done["started_at"] <= done["finished_at"]


def test_jobs_are_listed_newest_first_in_pages_and_filtered(app, client, shop_id, register):
    register.kind("test.echo", echo)
    register.kind("test.other", echo)
    ids = [add_job(app, shop_id, "test.echo") for _ in range(3)]
    other = add_job(app, shop_id, "test.other")
    run_pending(app, limit=1)  # the oldest one

    page = client.get("/api/jobs?per_page=2", headers=auth()).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (4, 1, 2)
    assert [job["id"] for job in page["items"]] == [other, ids[2]]
    second = client.get("/api/jobs?per_page=2&page=2", headers=auth()).get_json()
    assert [job["id"] for job in second["items"]] == [ids[1], ids[0]]

    succeeded = client.get("/api/jobs?status=succeeded", headers=auth()).get_json()
    assert [job["id"] for job in succeeded["items"]] == [ids[0]]
    of_kind = client.get("/api/jobs?kind=test.other", headers=auth()).get_json()
    assert [job["id"] for job in of_kind["items"]] == [other]


def test_bad_queries_are_422_naming_the_field(client, shop):
    for query, field in (
        ("per_page=1001", "per_page"),
        ("page=0", "page"),
        ("status=done", "status"),
        ("colour=red", "colour"),
    ):
        answer = client.get(f"/api/jobs?{query}", headers=auth())
        assert answer.status_code == 422, query
        assert field in answer.get_json()["error"]["details"], query


def test_another_shop_s_job_is_not_found_and_a_token_is_required(
    app, client, host, shop_id, register
):
    register.kind("test.echo", echo)
    job_id = add_job(app, shop_id, "test.echo")
    host.install("other.example")
    missing = client.get(f"/api/jobs/{job_id}", headers=auth("other.example"))
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    listed = client.get("/api/jobs", headers=auth("other.example")).get_json()
    assert listed["total"] == 0 and listed["items"] == []
    assert client.get(f"/api/jobs/{job_id}").status_code == 401
    assert client.get("/api/jobs").status_code == 401


def test_the_openapi_document_describes_jobs(client, shop):
    document = client.get("/api/openapi.json", headers=auth()).get_json()
    listing = document["paths"]["/api/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "per_page", "status", "kind"}
    one = document["paths"]["/api/jobs/{job_id}"]["get"]
    ref = one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    job = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {
        "kind",
        "status",
        "progress",
        "total",
        "attempts",
        "result",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    } <= set(job["properties"])
