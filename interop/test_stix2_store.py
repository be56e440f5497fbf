"""The OASIS Python STIX library (stix2 3.0.x) on top of the server, via TAXIICollectionStore.

Also: every object the server serves parses with `stix2.parse(..., allow_custom=False)`. Cairn's
audience extension is a property-extension keyed by its extension-definition id, which stix2
3.0 accepts without allow_custom (checked: no object needs allow_custom=True).
"""

from __future__ import annotations

import json

import stix2
from stix2 import Filter, TAXIICollectionStore

import taxii_helpers as h


def _as_dict(obj) -> dict:
    return json.loads(obj.serialize())


def test_store_add_get_all_versions_query(nils):
    store = TAXIICollectionStore(nils, allow_custom=False)
    v1 = stix2.Indicator(
        name="Beacon to historian",
        description="C2 beacon seen from an OT historian.",
        pattern="[domain-name:value = 'historian-update.example.net']",
        pattern_type="stix",
        indicator_types=["malicious-activity"],
        object_marking_refs=[h.TLP2["GREEN"]],
        created_by_ref=h.SUITE_IDENTITY_ID,
    )
    store.add(v1)
    v2 = v1.new_version(name="Beacon to historian (confirmed)", confidence=85)
    store.add(v2)

    # get: the latest version, equal to what stix2 serialized and posted.
    got = store.get(v1.id)
    assert got is not None, f"store.get({v1.id}) found nothing"
    assert _as_dict(got) == _as_dict(v2)

    # all_versions: both, exactly.
    versions = store.all_versions(v1.id)
    assert sorted((_as_dict(v) for v in versions), key=lambda d: d["modified"]) == [_as_dict(v1), _as_dict(v2)]

    # query with a type filter (sent as match[type], paged by the store) and an id filter.
    hits = store.query([Filter("type", "=", "indicator"), Filter("id", "=", v1.id)])
    assert [_as_dict(x) for x in hits] == [_as_dict(v2)]
    every_indicator = store.query([Filter("type", "=", "indicator")])
    assert {x.type for x in every_indicator} == {"indicator"}
    assert v1.id in {x.id for x in every_indicator}

    # A filter the server does not handle is applied by stix2 on what the server returned.
    named = store.query([Filter("type", "=", "indicator"), Filter("name", "=", "Beacon to historian (confirmed)")])
    assert v1.id in {x.id for x in named}


def test_store_relationships(nils):
    store = TAXIICollectionStore(nils, allow_custom=False)
    mal = stix2.Malware(name="PumpLocker", is_family=True, malware_types=["ransomware"],
                        description="Ransomware aimed at water utilities.")
    ind = stix2.Indicator(name="PumpLocker hash", description="Dropper hash.", pattern_type="stix",
                          pattern="[file:hashes.'SHA-256' = '" + "ab" * 32 + "']")
    rel = stix2.Relationship(ind, "indicates", mal, description="Dropper of the family.")
    store.add([mal, ind, rel])
    related = store.related_to(mal, relationship_type="indicates")
    assert [x.id for x in related] == [ind.id]


def test_parse_every_served_object(clients, nils, corpus):
    """stix2.parse(allow_custom=False) accepts every version of every object nils can see."""
    served, _ = h.collect(nils.get_objects, per_request=100, version="all")
    assert {o["id"] for o in corpus} <= {o["id"] for o in served}, "the corpus is not all served"
    failures = []
    for obj in served:
        try:
            # version="2.1": the collection serves STIX 2.1 only; without it stix2 takes an SCO
            # that omits the optional spec_version for STIX 2.0 and rejects its 2.1 properties.
            stix2.parse(obj, allow_custom=False, version="2.1")
        except Exception as exc:  # noqa: BLE001 - report every object that does not parse
            failures.append(f"{obj.get('id')}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {len(served)} served objects do not parse:\n" + "\n".join(failures)
