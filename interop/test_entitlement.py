"""Cairn's TLP entitlement rule, seen through taxii2-client by users of different organizations.

nils.analyst (nordgrid) posts one object per marking case. Each reader must see exactly the cases
the rule grants, and "not entitled" must look exactly like "not there": absent from the objects
list and the manifest, 404 on the object and on its versions (contract; TAXII 2.1 section 1.6
lets a server leave out objects the client is not entitled to).
"""

from __future__ import annotations

import pytest
import requests

import taxii_helpers as h

pytestmark = pytest.mark.cairn_only

SOURCE = "nils.analyst"

# Marking cases: name -> how the object is marked.
CASES = {
    "clear": dict(tlp="CLEAR"),
    "white-tlp1": dict(tlp1="WHITE"),
    "green": dict(tlp="GREEN"),
    "unmarked": dict(),  # takes the community default, GREEN
    "amber-rhine": dict(tlp="AMBER", organizations=["rhine-water"]),
    "amber-tlp1-rhine": dict(tlp1="AMBER", organizations=["rhine-water"]),
    "strict-rhine": dict(tlp="AMBER+STRICT", organizations=["rhine-water"]),
    "red-wim": dict(tlp="RED", users=["wim.water"]),
}
PUBLIC = {"clear", "white-tlp1"}
MEMBERS = PUBLIC | {"green", "unmarked"}
RHINE = MEMBERS | {"amber-rhine", "amber-tlp1-rhine", "strict-rhine"}

# Reader -> (cases they must see, cases they must not see). None = anonymous.
EXPECTED = {
    "nils.analyst": (set(CASES), set()),  # the source organization sees all its objects
    "nora.chair": (set(CASES), set()),  # same organization (nordgrid)
    "wim.water": (RHINE | {"red-wim"}, set()),
    "anna.water": (RHINE, {"red-wim"}),  # same organization as wim, but RED names wim only
    "hans.health": (MEMBERS, set(CASES) - MEMBERS),
    "clara.agency": (MEMBERS, set(CASES) - MEMBERS),  # a co-chair gets nothing extra
    # Observer organization, read-only user: the contract fixes only that it can read and not write,
    # so GREEN is left unasserted; it must not get what rhine-water or wim alone may see.
    "dora.lab": (PUBLIC, set(RHINE - MEMBERS) | {"red-wim"}),
    "operator": (PUBLIC, set(CASES) - PUBLIC),  # the node operator is not a member
    None: (PUBLIC, set(CASES) - PUBLIC),  # anonymous, through the public feed
}


@pytest.fixture(scope="module")
def shared(clients) -> dict[str, dict]:
    """One object per case, posted by nils in one envelope; returns case -> object."""
    objects = {case: h.marked(h.indicator(f"Entitlement case {case}"), **how) for case, how in CASES.items()}
    h.post_ok(clients.collection(SOURCE), list(objects.values()))
    return objects


def _reader_id(reader):
    """Test id of a parameter: None is the anonymous reader."""
    return "anonymous" if reader is None else str(reader)


@pytest.mark.parametrize("reader", list(EXPECTED), ids=_reader_id)
def test_reader_sees_exactly_what_the_rule_grants(clients, shared, reader):
    must_see, must_not_see = EXPECTED[reader]
    coll = clients.collection(reader)
    raw = clients.raw(reader)
    all_ids = [o["id"] for o in shared.values()]
    case_of = {o["id"]: case for case, o in shared.items()}
    problems: list[str] = []

    # The objects list (paged by taxii2-client) and the manifest.
    listed, _ = h.collect(coll.get_objects, per_request=3, id=all_ids)
    listed_cases = {case_of[o["id"]] for o in listed}
    manifest, _ = h.collect(coll.get_manifest, per_request=3, id=all_ids)
    manifest_cases = {case_of[m["id"]] for m in manifest}
    for name, seen in (("get_objects", listed_cases), ("manifest", manifest_cases)):
        if missing := must_see - seen:
            problems.append(f"{name}: missing {sorted(missing)}")
        if leaked := must_not_see & seen:
            problems.append(f"{name}: LEAKS {sorted(leaked)}")
    for obj in listed:
        if obj != shared[case_of[obj["id"]]]:
            problems.append(f"get_objects: {case_of[obj['id']]} served changed: {obj}")

    # The single object and its versions: 200 with the exact JSON, or 404.
    for case in sorted(must_see | must_not_see):
        obj = shared[case]
        resp = raw.get(f"objects/{obj['id']}/")
        versions = raw.get(f"objects/{obj['id']}/versions/")
        if case in must_see:
            if resp.status_code != 200 or resp.json().get("objects") != [obj]:
                problems.append(f"GET object {case}: expected 200 with the object\n{h.exchange(resp)}")
            if versions.status_code != 200 or versions.json().get("versions") != [obj["modified"]]:
                problems.append(f"GET versions {case}: expected 200 [{obj['modified']}]\n{h.exchange(versions)}")
        else:
            if resp.status_code != 404:
                problems.append(f"GET object {case}: expected 404\n{h.exchange(resp)}")
            if versions.status_code != 404:
                problems.append(f"GET versions {case}: expected 404\n{h.exchange(versions)}")

    assert not problems, f"reader {_reader_id(reader)}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "reader, can_read, can_write",
    [
        ("nils.analyst", True, True),
        ("nora.chair", True, True),
        ("hans.health", True, True),
        ("dora.lab", True, False),  # read-only user of an observer organization
        ("operator", True, False),  # not a member: the public feed only
        (None, True, False),  # anonymous: the public feed only
    ],
    ids=_reader_id,
)
def test_collection_rights_per_requester(clients, reader, can_read, can_write):
    coll = clients.fresh_collection(reader)
    assert (coll.can_read, coll.can_write) == (can_read, can_write)


@pytest.mark.parametrize("writer", ["dora.lab", "operator", None], ids=_reader_id)
def test_users_without_write_cannot_post(clients, writer):
    obj = h.indicator("must not be stored")
    resp = clients.raw(writer).post_objects([obj])
    expected = (401,) if writer is None else (403, 404)
    assert resp.status_code in expected, h.exchange(resp)
    if writer is None:
        assert "WWW-Authenticate" in resp.headers, h.exchange(resp)
    assert clients.collection(SOURCE).get_objects(id=obj["id"]).get("objects") is None


@pytest.mark.parametrize(
    "how",
    [dict(tlp="RED"), dict(tlp="RED", organizations=["rhine-water"]), dict(tlp1="RED")],
    ids=["no-audience", "orgs-only", "tlp1-no-audience"],
)
def test_red_without_named_users_is_refused(clients, how):
    nils = clients.collection(SOURCE)
    ok = h.indicator("accompanying object")
    red = h.marked(h.indicator("RED without recipients"), **how)
    status = h.post(nils, [ok, red])
    assert (status.success_count, status.failure_count) == (1, 1), status._raw
    assert [f["id"] for f in status.failures] == [red["id"]], status._raw
    with pytest.raises(requests.HTTPError) as err:
        nils.get_object(red["id"])
    assert h.http_status(err.value) == 404


def test_audience_naming_unknown_organization_is_refused(clients):
    nils = clients.collection(SOURCE)
    obj = h.marked(h.indicator("AMBER to nobody"), tlp="AMBER", organizations=["no-such-org"])
    status = h.post(nils, [obj])
    assert (status.success_count, status.failure_count) == (0, 1), status._raw


def test_delete_rights(clients, shared):
    """Only the source organization deletes: a reader gets 403, a non-reader 404."""
    green, amber = shared["green"], shared["amber-rhine"]
    wim_delete = clients.raw("wim.water").delete(f"objects/{green['id']}/")
    assert wim_delete.status_code == 403, h.exchange(wim_delete)
    hans_delete = clients.raw("hans.health").delete(f"objects/{amber['id']}/")
    assert hans_delete.status_code == 404, h.exchange(hans_delete)
    # Both objects are still there for the source.
    nils = clients.collection(SOURCE)
    assert nils.get_object(green["id"]).get("objects") == [green]
    assert nils.get_object(amber["id"]).get("objects") == [amber]


def test_source_deletes_for_everyone(clients):
    nils = clients.collection(SOURCE)
    obj = h.marked(h.indicator("deleted by its source"), "GREEN")
    h.post_ok(nils, [obj])
    assert clients.collection("hans.health").get_object(obj["id"]).get("objects") == [obj]
    resp = clients.raw(SOURCE).delete(f"objects/{obj['id']}/")
    assert resp.status_code == 200, h.exchange(resp)
    for reader in (SOURCE, "hans.health"):
        resp = clients.raw(reader).get(f"objects/{obj['id']}/")
        assert resp.status_code == 404, h.exchange(resp)


def test_bearer_token_and_bad_credentials(clients, target):
    url = clients.collection(SOURCE).url
    bearer = requests.get(url, headers={"Accept": h.TAXII_MEDIA_TYPE,
                                        "Authorization": f"Bearer {target.tokens[SOURCE]}"}, timeout=30)
    assert bearer.status_code == 200 and bearer.json().get("can_write") is True, h.exchange(bearer)
    wrong = requests.get(url, headers={"Accept": h.TAXII_MEDIA_TYPE}, auth=(SOURCE, "not-the-token"), timeout=30)
    # TAXII 2.1 section 1.6.1: failed authentication is 401 (with WWW-Authenticate) or 404, never
    # a fallback to the anonymous public feed.
    assert wrong.status_code in (401, 404), h.exchange(wrong)
    if wrong.status_code == 401:
        assert "WWW-Authenticate" in wrong.headers, h.exchange(wrong)
