"""TAXII 2.1 round trip with the OASIS client, taxii2-client 2.3.0.

taxii2-client validates what it reads (required fields, status counts, Content-Type against
Accept), so each call below is already an assertion on the server; the tests add what the client
does not check: contents, filters, pagination, ordering and the X-TAXII-Date-Added headers.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

import taxii_helpers as h

NILS = "nils.analyst"


def _ids(objs):
    return [o["id"] for o in objs]


def _assert_same_objects(served: list[dict], posted: list[dict]) -> None:
    """Every posted version comes back as the same JSON (parsed dicts compared), once."""
    keys = [(o["id"], o.get("modified", o.get("created", ""))) for o in served]
    assert len(keys) == len(set(keys)), f"duplicates in served objects: {keys}"
    got, want = h.index(served), h.index(posted)
    assert set(got) == set(want), f"missing {set(want) - set(got)}, unexpected {set(got) - set(want)}"
    for key, obj in want.items():
        assert got[key] == obj, f"{key} changed in the round trip:\nposted {json.dumps(obj, indent=1)}\nserved {json.dumps(got[key], indent=1)}"


# --- discovery, API root, collection ---------------------------------------------------------

def test_discovery(clients, target):
    server = clients.server(NILS)
    assert server.title, "discovery has no title"
    urls = [r.url for r in server.api_roots]
    assert any(u.endswith(f"/{target.community}/") for u in urls), urls
    if server.default is not None:
        assert server.default.url in urls, "default must be one of api_roots"


def test_api_root(clients):
    root = clients.api_root(NILS)
    assert h.TAXII_MEDIA_TYPE in root.versions, root.versions
    assert isinstance(root.max_content_length, int) and root.max_content_length > 0


@pytest.mark.cairn_only
def test_api_root_title_is_community_name(clients):
    assert clients.api_root(NILS).title == "Energy & Water ISAC"


def test_collection(clients):
    coll = clients.collection(NILS)
    uuid.UUID(coll.id)  # raises if the collection id is not a UUID
    assert "Energy & Water ISAC" in coll.title, coll.title
    assert coll.can_read is True and coll.can_write is True, (coll.can_read, coll.can_write)
    if coll.media_types:
        assert h.STIX_MEDIA_TYPE in coll.media_types, coll.media_types


# --- POST, status, GET with paging -----------------------------------------------------------

def test_round_trip_paged(clients, nils):
    """Seven varied objects posted in one envelope come back byte-equal, 3 per page at most."""
    mal = h.malware()
    ind = h.indicator()
    posted = [
        ind,
        mal,
        h.relationship(ind["id"], "indicates", mal["id"]),
        h.domain_name(),
        h.note([ind["id"], mal["id"]]),
        h.sighting(ind["id"]),
        h.marked(h.indicator("Marked CLEAR"), "CLEAR"),
    ]
    status = h.post_ok(nils, posted)
    assert status.total_count == len(posted) and status.pending_count == 0
    assert sorted(s["id"] for s in status.successes) == sorted(_ids(posted))

    # The status resource can be fetched again (taxii2-client builds its URL from the collection).
    again = clients.api_root(NILS).get_status(status.id)
    assert (again.status, again.success_count, again.failure_count) == ("complete", len(posted), 0)

    served, pages = h.collect(nils.get_objects, per_request=3, id=_ids(posted))
    assert all(len(p.get("objects", [])) <= 3 for p in pages), [len(p.get("objects", [])) for p in pages]
    assert len(pages) >= 3, f"7 objects with limit=3 came in {len(pages)} page(s)"
    for page in pages[:-1]:
        assert page.get("more") is True and page.get("next"), f"non-final page without more/next: {page.keys()}"
    assert not pages[-1].get("more"), "last page says more:true"
    _assert_same_objects(served, posted)


def test_get_object_returns_exact_json(nils):
    obj = h.marked(h.indicator("Single object"), "GREEN")
    h.post_ok(nils, [obj])
    env = nils.get_object(obj["id"])
    assert env.get("objects") == [obj]


def test_status_counts_add_up(nils):
    objs = [h.indicator(), h.malware()]
    status = h.post_ok(nils, objs)
    raw = status._raw
    assert raw["total_count"] == raw["success_count"] + raw["failure_count"] + raw["pending_count"]
    assert "failures" not in raw and "pendings" not in raw, "empty lists must be left out (TAXII 2.1 3.1)"
    assert h.TAXII_TIMESTAMP.match(raw.get("request_timestamp", "2000-01-01T00:00:00.000000Z")), raw


# --- filters ---------------------------------------------------------------------------------

def test_match_type_and_id(nils):
    ind, mal = h.indicator(), h.malware()
    h.post_ok(nils, [ind, mal])
    both = [ind["id"], mal["id"]]

    only_mal = nils.get_objects(id=both, type="malware")
    assert _ids(only_mal.get("objects", [])) == [mal["id"]]

    two = nils.get_objects(id=both, type=["malware", "indicator"])
    assert sorted(_ids(two.get("objects", []))) == sorted(both)

    one = nils.get_objects(id=ind["id"])
    assert one.get("objects") == [ind]

    # match[type] alone, paged: every result is an indicator and ours is among them.
    served, _ = h.collect(nils.get_objects, per_request=50, type="indicator")
    assert {o["type"] for o in served} == {"indicator"}
    assert ind["id"] in _ids(served) and mal["id"] not in _ids(served)


def test_match_type_with_no_result_is_empty(nils):
    env = nils.get_objects(id=h.new_id("indicator"))
    assert "objects" not in env, f"an empty result must be {{}} (no empty list): {env}"


def test_match_spec_version(nils):
    obj = h.indicator("spec_version filter")
    h.post_ok(nils, [obj])
    assert nils.get_objects(id=obj["id"], spec_version="2.1").get("objects") == [obj]
    assert "objects" not in nils.get_objects(id=obj["id"], spec_version="2.0")


def test_added_after(nils):
    first = h.indicator("added first")
    h.post_ok(nils, [first])
    manifest = nils.get_manifest(id=first["id"])
    date_added = manifest["objects"][0]["date_added"]
    assert h.TAXII_TIMESTAMP.match(date_added), date_added
    time.sleep(0.01)
    second = h.indicator("added second")
    h.post_ok(nils, [second])

    after = nils.get_objects(id=[first["id"], second["id"]], added_after=date_added)
    assert _ids(after.get("objects", [])) == [second["id"]], "added_after is strict (>) on date_added"


def test_versions_filters(clients, nils):
    v1 = h.indicator("v1")
    v2 = h.new_version(v1, 10, name="v2")
    v3 = h.new_version(v1, 20, name="v3")
    for v in (v1, v2, v3):  # three POSTs, so date_added orders them
        h.post_ok(nils, [v])
    oid = v1["id"]

    assert nils.get_objects(id=oid).get("objects") == [v3], "match[version] defaults to last"
    assert nils.get_objects(id=oid, version="last").get("objects") == [v3]
    assert nils.get_objects(id=oid, version="first").get("objects") == [v1]
    assert nils.get_objects(id=oid, version=v2["modified"]).get("objects") == [v2]
    _assert_same_objects(nils.get_objects(id=oid, version="all").get("objects", []), [v1, v2, v3])

    # The single-object endpoint takes match[version] too.
    assert nils.get_object(oid).get("objects") == [v3]
    _assert_same_objects(nils.get_object(oid, version="all").get("objects", []), [v1, v2, v3])

    # The versions endpoint lists every version, by date_added ascending.
    versions = nils.object_versions(oid).get("versions", [])
    expected = [v1["modified"], v2["modified"], v3["modified"]]
    assert sorted(versions) == sorted(expected), versions
    assert versions == expected, f"versions must be sorted by date_added ascending (TAXII 2.1 3.4): {versions}"

    # The manifest has one entry per version with match[version]=all.
    manifest = nils.get_manifest(id=oid, version="all")
    assert [m["version"] for m in manifest.get("objects", [])] == [v1["modified"], v2["modified"], v3["modified"]]


def test_version_first_and_last_combined(nils):
    """match[version] takes several values (ORed, TAXII 2.1 3.4.2); only `all` stands alone."""
    v1 = h.indicator("v1")
    v2 = h.new_version(v1, 10, name="v2")
    v3 = h.new_version(v1, 20, name="v3")
    h.post_ok(nils, [v1, v2, v3])
    _assert_same_objects(nils.get_objects(id=v1["id"], version=["first", "last"]).get("objects", []), [v1, v3])
    _assert_same_objects(nils.get_objects(id=v1["id"], version=["first", v2["modified"]]).get("objects", []), [v1, v2])


def test_manifest(nils):
    posted = [h.indicator(), h.malware(), h.domain_name(), h.indicator()]
    h.post_ok(nils, posted)
    entries, pages = h.collect(nils.get_manifest, per_request=2, id=_ids(posted))
    assert len(pages) >= 2 and all(len(p.get("objects", [])) <= 2 for p in pages)
    assert sorted(e["id"] for e in entries) == sorted(_ids(posted))
    by_id = {e["id"]: e for e in entries}
    for obj in posted:
        entry = by_id[obj["id"]]
        assert h.TAXII_TIMESTAMP.match(entry["date_added"]), entry
        if "modified" in obj:
            assert entry["version"] == obj["modified"], entry
        else:
            assert entry["version"], entry  # an SCO: a server-chosen, stable version
        if "media_type" in entry:
            assert entry["media_type"] == h.STIX_MEDIA_TYPE, entry
    dates = [e["date_added"] for e in entries]
    assert dates == sorted(dates), "manifest must be sorted by date_added ascending"


# --- headers and raw HTTP --------------------------------------------------------------------

@pytest.mark.parametrize("path_kind", ["objects", "manifest", "object", "versions"])
def test_date_added_headers(clients, nils, path_kind):
    """Every 200 from these endpoints carries X-TAXII-Date-Added-First/Last = first/last item."""
    a, b = h.indicator("first"), h.indicator("second")
    h.post_ok(nils, [a])
    time.sleep(0.01)
    h.post_ok(nils, [b])
    manifest = nils.get_manifest(id=[a["id"], b["id"]])["objects"]
    raw = clients.raw(NILS)
    ids = f"{a['id']},{b['id']}"
    if path_kind == "objects":
        resp, first, last = raw.get("objects/", {"match[id]": ids}), manifest[0], manifest[-1]
    elif path_kind == "manifest":
        resp, first, last = raw.get("manifest/", {"match[id]": ids}), manifest[0], manifest[-1]
    elif path_kind == "object":
        resp, first = raw.get(f"objects/{b['id']}/"), [m for m in manifest if m["id"] == b["id"]][0]
        last = first
    else:
        resp, first = raw.get(f"objects/{a['id']}/versions/"), [m for m in manifest if m["id"] == a["id"]][0]
        last = first
    assert resp.status_code == 200, h.exchange(resp)
    ctype = resp.headers.get("Content-Type", "").replace(" ", "")
    assert ctype.startswith(h.TAXII_MEDIA_TYPE), h.exchange(resp)
    assert resp.headers.get("X-TAXII-Date-Added-First") == first["date_added"], h.exchange(resp)
    assert resp.headers.get("X-TAXII-Date-Added-Last") == last["date_added"], h.exchange(resp)


@pytest.mark.parametrize("limit", ["0", "-1", "abc"])
def test_malformed_limit_is_400(clients, limit):
    resp = clients.raw(NILS).get("objects/", {"limit": limit})
    assert resp.status_code == 400, h.exchange(resp)
    assert resp.headers.get("Content-Type", "").replace(" ", "").startswith(h.TAXII_MEDIA_TYPE), h.exchange(resp)
    assert "title" in resp.json(), h.exchange(resp)


def test_unknown_next_is_400(clients):
    resp = clients.raw(NILS).get("objects/", {"next": "no-such-page-token"})
    assert resp.status_code == 400, h.exchange(resp)


def test_missing_object_is_404(nils):
    with pytest.raises(requests.HTTPError) as err:
        nils.get_object(h.new_id("indicator"))
    assert h.http_status(err.value) == 404


# --- delete, duplicates, partial failures ----------------------------------------------------

def test_delete_object(clients, nils):
    gone, kept = h.indicator("to delete"), h.indicator("to keep")
    h.post_ok(nils, [gone, kept])
    nils.delete_object(gone["id"])
    with pytest.raises(requests.HTTPError) as err:
        nils.get_object(gone["id"])
    assert h.http_status(err.value) == 404
    with pytest.raises(requests.HTTPError) as err:
        nils.object_versions(gone["id"])
    assert h.http_status(err.value) == 404
    manifest = nils.get_manifest(id=[gone["id"], kept["id"]])
    assert _ids(manifest.get("objects", [])) == [kept["id"]], manifest
    assert nils.get_objects(id=[gone["id"], kept["id"]]).get("objects") == [kept]


def test_delete_one_version(nils):
    v1 = h.indicator("v1")
    v2 = h.new_version(v1, 5, name="v2")
    h.post_ok(nils, [v1])
    h.post_ok(nils, [v2])
    nils.delete_object(v1["id"], version=v1["modified"])
    assert nils.get_objects(id=v1["id"], version="all").get("objects") == [v2]


def test_duplicate_post_counts_as_success(nils):
    objs = [h.indicator("dup"), h.malware("DupWare")]
    h.post_ok(nils, objs)
    again = h.post_ok(nils, objs)  # asserts success_count == 2, failure_count == 0
    assert sorted(s["id"] for s in again.successes) == sorted(_ids(objs))
    # ... and the object is stored once.
    assert len(nils.get_objects(id=objs[0]["id"], version="all").get("objects", [])) == 1


@pytest.mark.cairn_only
def test_partly_invalid_envelope(nils):
    good = h.indicator("good")
    bad = dict(h.indicator("bad"), id="indicator--not-a-uuid")
    status = h.post(nils, [good, bad])
    assert (status.total_count, status.success_count, status.failure_count, status.pending_count) == (2, 1, 1, 0), status._raw
    assert [s["id"] for s in status.successes] == [good["id"]]
    assert [f["id"] for f in status.failures] == [bad["id"]], status.failures
    assert status.failures[0].get("message"), "a failure should say why"
    assert nils.get_object(good["id"]).get("objects") == [good]


@pytest.mark.cairn_only
def test_envelope_that_is_not_json_is_refused(clients):
    raw = clients.raw(NILS)
    resp = raw.session.post(raw.url("objects/"), data=b"{not json", headers={"Content-Type": h.TAXII_MEDIA_TYPE}, timeout=30)
    assert resp.status_code in (400, 422), h.exchange(resp)
    assert "title" in resp.json(), h.exchange(resp)

