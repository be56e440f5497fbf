"""Shared helpers of the interoperability suite: STIX object factories, TAXII paging, and a thin
raw-HTTP client whose failures print the whole HTTP exchange.

Everything that talks TAXII for the *client side of the test* goes through taxii2-client or stix2,
the third-party libraries whose interoperability we prove. The raw client is only used for what
those libraries do not expose (response headers, status codes of refused requests, malformed
parameters), so a failing assertion can show exactly what the server answered.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any, Callable, Iterable

import requests
from taxii2client.v21 import Collection, as_pages

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"

# TLP 2.0 marking definitions (OASIS cti-stix-common-objects), see STANDARDS.md section 2.
TLP2 = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# TLP 1.0 marking definitions (part of STIX 2.1 itself).
TLP1 = {
    "WHITE": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "GREEN": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "AMBER": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "RED": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
BUILTIN_MARKINGS = frozenset(TLP1.values()) | frozenset(TLP2.values())

# Cairn's audience property extension: who may receive an AMBER / AMBER+STRICT / RED object.
AUDIENCE_EXTENSION = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300"

# Namespace of deterministic SCO ids (STIX 2.1 section 2.9).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

# The identity every hand-written object of this suite is created by (a fixed UUIDv4, since
# stix2-validator's strict mode wants v4 ids on SDOs).
SUITE_IDENTITY_ID = "identity--6c3f8d0e-2a4b-4e7f-9b1c-5d8e7f6a4b21"
SUITE_IDENTITY = {
    "type": "identity",
    "spec_version": "2.1",
    "id": SUITE_IDENTITY_ID,
    "created": "2024-01-01T00:00:00.000Z",
    "modified": "2024-01-01T00:00:00.000Z",
    "name": "Cairn interoperability suite",
    "description": "Author of the objects the Cairn TAXII interoperability tests post.",
    "identity_class": "system",
    "object_marking_refs": [TLP2["CLEAR"]],
}

# The label every object from stix2-generator carries once the generator test posts it.
GENERATOR_LABEL = "cairn-interop-stix2-generator"
# Ids of everything the generator test posted: SCOs cannot carry GENERATOR_LABEL.
GENERATED_IDS: set[str] = set()

# TAXII timestamps: UTC with microsecond precision (TAXII 2.1 section 3.1).
TAXII_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


# --- STIX object factories -------------------------------------------------------------------

def new_id(stix_type: str) -> str:
    """A fresh SDO/SRO id (UUIDv4), unique per run, so a reused server never collides."""
    return f"{stix_type}--{uuid.uuid4()}"


def stix_now(offset_seconds: float = 0.0) -> str:
    """A STIX timestamp with millisecond precision, `offset_seconds` from now."""
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def marked(obj: dict, tlp: str | None = None, *, tlp1: str | None = None,
           organizations: list[str] | None = None, users: list[str] | None = None) -> dict:
    """Return `obj` with a TLP 2.0 (`tlp`) or TLP 1.0 (`tlp1`) marking and, if given, the
    audience extension naming recipient organizations (short names) and users (user names)."""
    obj = dict(obj)
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2[tlp]]
    if tlp1 is not None:
        obj["object_marking_refs"] = [TLP1[tlp1]]
    if organizations is not None or users is not None:
        ext: dict[str, Any] = {"extension_type": "property-extension"}
        if organizations is not None:
            ext["organizations"] = organizations
        if users is not None:
            ext["users"] = users
        obj.setdefault("extensions", {})
        obj["extensions"] = {**obj["extensions"], AUDIENCE_EXTENSION: ext}
    return obj


def indicator(name: str = "Suspicious resolver", *, created: str | None = None,
              modified: str | None = None, **extra: Any) -> dict:
    """A strictly valid indicator (name and description, as stix2-validator's strict mode wants)."""
    created = created or stix_now()
    octet = uuid.uuid4().int % 250 + 1
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": new_id("indicator"),
        "created_by_ref": SUITE_IDENTITY_ID,
        "created": created,
        "modified": modified or created,
        "name": name,
        "description": "Resolver seen answering for the utility's SCADA vendor domain.",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '198.51.100.{octet}']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    obj.update(extra)
    return obj


def new_version(obj: dict, seconds_later: float, **changes: Any) -> dict:
    """The next version of `obj`: same id and created, a later `modified`."""
    created = dt.datetime.strptime(obj["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    m = created + dt.timedelta(seconds=seconds_later)
    out = dict(obj)
    out["modified"] = m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z"
    out.update(changes)
    return out


def malware(name: str = "GridWiper") -> dict:
    t = stix_now()
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": new_id("malware"),
        "created_by_ref": SUITE_IDENTITY_ID,
        "created": t,
        "modified": t,
        "name": name,
        "description": "Wiper aimed at historian servers of energy utilities.",
        "malware_types": ["wiper"],
        "is_family": True,
    }


def relationship(source_ref: str, relationship_type: str, target_ref: str) -> dict:
    t = stix_now()
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": new_id("relationship"),
        "created_by_ref": SUITE_IDENTITY_ID,
        "created": t,
        "modified": t,
        "relationship_type": relationship_type,
        "description": "Analyst assessment.",
        "source_ref": source_ref,
        "target_ref": target_ref,
    }


def domain_name(value: str | None = None) -> dict:
    """An SCO with its deterministic UUIDv5 id (over the canonical JSON of {"value": ...})."""
    value = value or f"{uuid.uuid4().hex[:16]}.example.org"
    canonical = json.dumps({"value": value}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return {
        "type": "domain-name",
        "spec_version": "2.1",
        "id": f"domain-name--{uuid.uuid5(SCO_NAMESPACE, canonical)}",
        "value": value,
    }


def note(about: list[str]) -> dict:
    t = stix_now()
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": new_id("note"),
        "created_by_ref": SUITE_IDENTITY_ID,
        "created": t,
        "modified": t,
        "abstract": "Seen at two water utilities",
        # Non-ASCII text and escapes: the round trip must keep them exactly.
        "content": "Beobachtet in Köln & Delft — \"quoted\", tab\tand newline\nin one note. ✓",
        "object_refs": about,
    }


def sighting(of_ref: str) -> dict:
    t = stix_now()
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": new_id("sighting"),
        "created_by_ref": SUITE_IDENTITY_ID,
        "created": t,
        "modified": t,
        "description": "Sighted at a pumping station.",
        "sighting_of_ref": of_ref,
        "where_sighted_refs": [SUITE_IDENTITY_ID],
        "first_seen": "2024-03-01T08:00:00.123456Z",
        "last_seen": "2024-03-01T09:30:00Z",
        "count": 3,
    }


def envelope(objects: Iterable[dict]) -> dict:
    return {"objects": list(objects)}


# --- taxii2-client helpers -------------------------------------------------------------------

def post(collection: Collection, objects: Iterable[dict], timeout: int = 30):
    """POST an envelope with taxii2-client and poll the status until it is final."""
    status = collection.add_objects(envelope(objects), wait_for_completion=True, poll_interval=0.2, timeout=timeout)
    assert status.status == "complete", f"status still {status.status} after {timeout}s: {status._raw}"
    return status


def post_ok(collection: Collection, objects: list[dict]):
    """POST and require that every object was accepted."""
    status = post(collection, objects)
    assert status.failure_count == 0 and status.success_count == len(objects), (
        f"expected {len(objects)} successes, got status {json.dumps(status._raw, indent=1)}"
    )
    return status


def collect(func: Callable[..., dict], per_request: int = 100, key: str = "objects",
            **filters: Any) -> tuple[list[dict], list[dict]]:
    """Page through an endpoint with taxii2-client's `as_pages`. Returns (items, pages)."""
    pages = list(as_pages(func, per_request=per_request, **filters))
    items = [item for page in pages for item in page.get(key, [])]
    return items, pages


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a requests error raised inside taxii2-client, if any."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def index(objs: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """Objects by (id, version), where the version is `modified`, else `created`, else ''."""
    return {(o["id"], o.get("modified", o.get("created", ""))): o for o in objs}


# --- raw HTTP, for headers and refused requests ----------------------------------------------

def exchange(resp: requests.Response, limit: int = 2500) -> str:
    """The request and the response, printable in an assertion message."""
    req = resp.request
    lines = [f">>> {req.method} {req.url}"]
    lines += [f">>> {k}: {'<redacted>' if k.lower() == 'authorization' else v}" for k, v in req.headers.items()]
    if req.body:
        body = req.body.decode("utf-8", "replace") if isinstance(req.body, bytes) else str(req.body)
        lines.append(">>> " + body[:limit])
    lines.append(f"<<< {resp.status_code} {resp.reason}")
    lines += [f"<<< {k}: {v}" for k, v in resp.headers.items()]
    lines.append("<<< " + resp.text[:limit])
    return "\n".join(lines)


class RawTaxii:
    """A requests session for one user (None: anonymous) on one collection."""

    def __init__(self, collection_url: str, user: str | None, token: str | None):
        self.collection_url = collection_url
        self.session = requests.Session()
        self.session.headers["Accept"] = TAXII_MEDIA_TYPE
        if user is not None:
            self.session.auth = (user, token)

    def url(self, path: str = "") -> str:
        return self.collection_url + path

    def get(self, path: str = "", params: dict | None = None) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=30)

    def delete(self, path: str, params: dict | None = None) -> requests.Response:
        return self.session.delete(self.url(path), params=params, timeout=30)

    def post_objects(self, objects: list[dict]) -> requests.Response:
        return self.session.post(
            self.url("objects/"),
            data=json.dumps(envelope(objects)).encode(),
            headers={"Content-Type": TAXII_MEDIA_TYPE},
            timeout=30,
        )
