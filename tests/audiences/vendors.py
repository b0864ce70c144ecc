"""Fake Klaviyo, Meta and Attentive that keep what they hold, judging every request by the
vendors' own SDKs (``klaviyo-api``, ``facebook-business``; test dependencies only).

Each fake records a problem (and answers 400) for any request whose path, method, version or
body the SDK would not have produced; a test asserts ``problems == []`` and compares what the
fake holds with the source.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.apiconfig import ads_api_config
from klaviyo_api import KlaviyoAPI
from openapi_client.api.lists_api import ListsApi
from openapi_client.api.profiles_api import ProfilesApi
from openapi_client.api_client import ApiClient
from openapi_client.configuration import Configuration
from openapi_client.models import ListMembersAddQuery, ListMembersDeleteQuery, ProfileUpsertQuery
from werkzeug import Request, Response

KLAVIYO_SDK_REVISION = KlaviyoAPI._REVISION
META_SDK_VERSION = ads_api_config["API_VERSION"]
_SDK_CLIENT = ApiClient(Configuration(host=""))


def fits(model: Any, body: Any) -> bool:
    """Whether ``body`` is exactly what the SDK model holds once parsed (nothing dropped,
    nothing renamed, every value of the right type)."""
    parsed = model.from_dict(body)
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == body


def meta_entry(value: str, identifier: str = "email") -> str:
    """The hash facebook-business itself sends for a raw value (``format_params``)."""
    schema = {"email": "EMAIL", "phone": "PHONE"}[identifier]
    params = CustomAudience.format_params([schema], [[value]], is_raw=True)
    return str(params["payload"]["data"][0][0])


class FakeKlaviyo:
    """Profiles keyed by email, and one list."""

    def __init__(self, httpserver: Any, list_id: str, api_key: str) -> None:
        self.list_id = list_id
        self.api_key = api_key
        self.profiles: dict[str, str] = {}  # email → profile id
        self.attributes: dict[str, dict[str, Any]] = {}  # profile id → attributes
        self.members: set[str] = set()  # profile ids in the list
        self.calls: list[tuple[str, str, Any]] = []
        self.problems: list[str] = []
        relationships = f"/api/lists/{list_id}/relationships/profiles"
        httpserver.expect_request("/api/profile-import", method="POST").respond_with_handler(
            self.profile_import
        )
        httpserver.expect_request(relationships, method="POST").respond_with_handler(
            self.relationships
        )
        httpserver.expect_request(relationships, method="DELETE").respond_with_handler(
            self.relationships
        )
        httpserver.expect_request("/api/profiles", method="GET").respond_with_handler(
            self.get_profiles
        )

    def emails(self) -> set[str]:
        """The emails of the list's members."""
        by_id = {profile_id: email for email, profile_id in self.profiles.items()}
        return {by_id[profile_id] for profile_id in self.members}

    def _judge(self, request: Request, sdk: tuple[str, str, dict[str, str], Any, Any]) -> Any:
        method, url, headers, _, _ = sdk
        body = json.loads(request.get_data())
        if (request.method, request.path) != (method, url):
            self.problems.append(f"{request.method} {request.path} is not the SDK's {url}")
        if request.headers.get("revision") != KLAVIYO_SDK_REVISION:
            self.problems.append(f"revision {request.headers.get('revision')}")
        if request.headers.get("Authorization") != f"Klaviyo-API-Key {self.api_key}":
            self.problems.append("Authorization")
        if request.headers.get("Content-Type") != headers["Content-Type"]:
            self.problems.append(f"Content-Type {request.headers.get('Content-Type')}")
        return body

    def profile_import(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        if not fits(ProfileUpsertQuery, body):
            self.problems.append(f"profile-import body {body}")
            return Response("", status=400)
        sdk = ProfilesApi(_SDK_CLIENT)._create_or_update_profile_serialize(
            ProfileUpsertQuery.from_dict(body), None, None, None, None, None, 0
        )
        self._judge(request, sdk)
        self.calls.append(("import", request.method, body))
        attributes = body["data"]["attributes"]
        email = attributes["email"]
        created = email not in self.profiles
        profile_id = self.profiles.setdefault(email, f"01P{len(self.profiles):05d}")
        self.attributes[profile_id] = attributes
        answer = {"data": {"type": "profile", "id": profile_id, "attributes": attributes}}
        return Response(
            json.dumps(answer),
            status=201 if created else 200,
            content_type="application/vnd.api+json",
        )

    def get_profiles(self, request: Request) -> Response:
        """``only_update_existing``: is there a profile with this email?"""
        query = {key: request.args.get(key) for key in request.args}
        sdk_method, sdk_url, *_ = ProfilesApi(_SDK_CLIENT)._get_profiles_serialize(
            None,
            None,
            [query.get("fields[profile]")],
            None,
            query.get("filter"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            0,
        )
        sdk_path, _, sdk_query = sdk_url.partition("?")
        if (request.method, request.path) != (sdk_method, sdk_path) or set(query) != {
            key.split("=")[0].replace("%5B", "[").replace("%5D", "]")
            for key in sdk_query.split("&")
        }:
            self.problems.append(f"GET {request.full_path} is not the SDK's {sdk_url}")
        if request.headers.get("revision") != KLAVIYO_SDK_REVISION:
            self.problems.append(f"revision {request.headers.get('revision')}")
        email = str(query.get("filter", "")).removeprefix('equals(email,"').removesuffix('")')
        found = [{"type": "profile", "id": self.profiles[email]}] if email in self.profiles else []
        return Response(json.dumps({"data": found}), content_type="application/vnd.api+json")

    def relationships(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        api = ListsApi(_SDK_CLIENT)
        if request.method == "POST":
            model: Any = ListMembersAddQuery
            serialize = api._add_profiles_to_list_serialize
        else:
            model = ListMembersDeleteQuery
            serialize = api._remove_profiles_from_list_serialize
        if not fits(model, body) or not 1 <= len(body["data"]) <= 1000:
            self.problems.append(f"{request.method} relationships body {body}")
            return Response("", status=400)
        self._judge(request, serialize(self.list_id, model.from_dict(body), None, None, None, 0))
        ids = {entry["id"] for entry in body["data"]}
        self.calls.append(("list", request.method, sorted(ids)))
        if request.method == "POST":
            self.members |= ids
        else:
            self.members -= ids
        return Response("", status=204)


class FakeMeta:
    """One custom audience: the set of hashed entries it holds."""

    def __init__(self, httpserver: Any, audience_id: str, token: str) -> None:
        self.token = token
        self.entries: set[str] = set()
        self.calls: list[tuple[str, int]] = []
        self.problems: list[str] = []
        path = f"/{META_SDK_VERSION}/{audience_id}/users"
        for method in ("POST", "DELETE"):
            httpserver.expect_request(path, method=method).respond_with_handler(self.users)

    def users(self, request: Request) -> Response:
        fields = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        payload = json.loads(fields.get("payload", "{}"))
        if fields.get("access_token") != self.token or set(fields) != {"payload", "access_token"}:
            self.problems.append(f"form fields {sorted(fields)}")
        schema = payload.get("schema")
        # What the SDK's add_users/remove_users would send for one entry of this schema.
        shape = CustomAudience.format_params(schema, [["x"]], is_raw=True)["payload"]
        if set(payload) != set(shape) or payload.get("is_raw") is not True:
            self.problems.append(f"payload keys {sorted(payload)}")
        data = payload.get("data") or []
        if not 1 <= len(data) <= 10_000 or any(len(row) != 1 for row in data):
            self.problems.append(f"{len(data)} entries")
        entries = {row[0] for row in data}
        self.calls.append((request.method, len(entries)))
        if request.method == "POST":
            self.entries |= entries
        else:
            self.entries -= entries
        answer = {"num_received": len(entries), "num_invalid_entries": 0}
        answer["invalid_entry_samples"] = {}
        return Response(json.dumps(answer), content_type="application/json")


class FakeAttentive:
    """Subscribers (by phone) and the custom attributes set on them."""

    def __init__(self, httpserver: Any, subscribers: list[str], api_key: str) -> None:
        self.api_key = api_key
        self.attributes: dict[str, dict[str, str]] = {phone: {} for phone in subscribers}
        self.problems: list[str] = []
        httpserver.expect_request("/v1/attributes/custom", method="POST").respond_with_handler(
            self.custom
        )

    def custom(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.problems.append("Authorization")
        body = json.loads(request.get_data())
        if set(body) != {"properties", "user"} or not all(
            isinstance(v, str) for v in body["properties"].values()
        ):
            self.problems.append(f"body {body}")
            return Response("", status=400)
        phone = body["user"].get("phone")
        if phone not in self.attributes:
            return Response(json.dumps({"errors": ["unknown"]}), status=404)
        self.attributes[phone].update(body["properties"])
        return Response("", status=200)
