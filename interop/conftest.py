"""Fixtures of Cairn's TAXII 2.1 interoperability suite.

The suite talks to a running server. `scripts/interop.sh` starts `cairn demo` and sets:

- `CAIRN_URL`: the server's base URL (discovery is at `{CAIRN_URL}/taxii2/`);
- `CAIRN_CREDENTIALS`: the demo's `demo-credentials.json` (community slug, users and tokens).

`CAIRN_INTEROP_TARGET=medallion` points the generic TAXII tests at the OASIS reference server
instead (users and passwords from `interop/medallion_conf.json`); tests marked `cairn_only`
(Cairn's entitlement rule and validation) are then skipped. The default target is Cairn, and
without the variables above every test errors: the suite never passes by testing nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server

import taxii_helpers as h

HERE = Path(__file__).resolve().parent


@dataclass
class Target:
    kind: str  # "cairn" or "medallion"
    url: str  # base URL, without the trailing slash
    community: str  # the community slug, which is the API root's path segment
    tokens: dict[str, str]  # user name -> token (the Basic password)
    orgs: dict[str, str] = field(default_factory=dict)  # user name -> organization short name

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/taxii2/"


def _load_target() -> Target:
    kind = os.environ.get("CAIRN_INTEROP_TARGET", "cairn")
    if kind == "medallion":
        conf = json.loads((HERE / "medallion_conf.json").read_text())
        url = os.environ.get("CAIRN_URL")
        if not url:
            raise pytest.UsageError("CAIRN_INTEROP_TARGET=medallion needs CAIRN_URL (the medallion base URL)")
        return Target("medallion", url.rstrip("/"), "energy-water-isac", dict(conf["users"]))
    if kind != "cairn":
        raise pytest.UsageError(f"CAIRN_INTEROP_TARGET must be cairn or medallion, not {kind!r}")
    path = os.environ.get("CAIRN_CREDENTIALS")
    if not path:
        raise pytest.UsageError(
            "set CAIRN_CREDENTIALS to a running `cairn demo`'s demo-credentials.json "
            "(scripts/interop.sh does all of it)"
        )
    creds = json.loads(Path(path).read_text())
    url = os.environ.get("CAIRN_URL") or creds["url"]
    return Target(
        "cairn",
        url.rstrip("/"),
        creds["community"],
        {u["username"]: u["token"] for u in creds["users"]},
        {u["username"]: u["organization"] for u in creds["users"]},
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cairn_only: Cairn's own rules; skipped against medallion")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CAIRN_INTEROP_TARGET", "cairn") != "medallion":
        return
    skip = pytest.mark.skip(reason="Cairn-specific rule; the target is medallion")
    for item in items:
        if "cairn_only" in item.keywords:
            item.add_marker(skip)


class Clients:
    """taxii2-client objects and raw HTTP sessions per user (None = anonymous)."""

    def __init__(self, target: Target):
        self.target = target
        self._collections: dict[str | None, Collection] = {}

    def token(self, user: str | None) -> str | None:
        if user is None:
            return None
        assert user in self.target.tokens, f"no demo user {user!r} in the credentials"
        return self.target.tokens[user]

    def server(self, user: str | None) -> Server:
        return Server(self.target.discovery_url, user=user, password=self.token(user))

    def api_root(self, user: str | None) -> ApiRoot:
        """The community's API root, found through discovery like any client would."""
        server = self.server(user)
        suffix = f"/{self.target.community}/"
        roots = [r for r in server.api_roots if r.url.endswith(suffix)]
        assert len(roots) == 1, (
            f"discovery for {user!r} lists {[r.url for r in server.api_roots]}, "
            f"expected exactly one API root ending in {suffix}"
        )
        return roots[0]

    def collection(self, user: str | None) -> Collection:
        """The community's single collection as `user` sees it (cached per user)."""
        if user not in self._collections:
            collections = self.api_root(user).collections
            assert len(collections) == 1, (
                f"{user!r} sees {len(collections)} collections in the API root, expected exactly one"
            )
            self._collections[user] = collections[0]
        return self._collections[user]

    def fresh_collection(self, user: str | None) -> Collection:
        """Like `collection`, without the cache (re-reads can_read / can_write)."""
        self._collections.pop(user, None)
        return self.collection(user)

    def raw(self, user: str | None) -> h.RawTaxii:
        # The collection URL comes from nils' discovery, so users without rights still get a URL.
        return h.RawTaxii(self.collection("nils.analyst").url, user, self.token(user))


@pytest.fixture(scope="session")
def target() -> Target:
    return _load_target()


@pytest.fixture(scope="session")
def clients(target: Target) -> Clients:
    return Clients(target)


@pytest.fixture(scope="session")
def nils(clients: Clients) -> Collection:
    """The collection as nils.analyst (nordgrid, analyst): the suite's main writer."""
    return clients.collection("nils.analyst")


@pytest.fixture(scope="session")
def corpus(nils: Collection) -> list[dict]:
    """A representative set of hand-written objects posted once per session by nils: every TLP
    level (2.0 and 1.0), the audience extension, SDOs, SROs, an SCO and two versions of one
    object. The parse and validator tests check them whatever else the collection holds."""
    ind_v1 = h.marked(h.indicator("Corpus indicator"), "GREEN")
    ind_v2 = h.new_version(ind_v1, 60, name="Corpus indicator (revised)")
    mal = h.marked(h.malware(), "AMBER", organizations=["rhine-water"])
    objects = [
        h.SUITE_IDENTITY,
        ind_v1,
        ind_v2,
        mal,
        h.marked(h.relationship(ind_v1["id"], "indicates", mal["id"]), "AMBER", organizations=["rhine-water"]),
        h.marked(h.indicator("Corpus strict"), "AMBER+STRICT", organizations=["rhine-water"]),
        h.marked(h.indicator("Corpus red"), "RED", users=["wim.water"]),
        h.marked(h.indicator("Corpus clear"), "CLEAR"),
        h.marked(h.indicator("Corpus white (TLP 1.0)"), tlp1="WHITE"),
        h.marked(h.indicator("Corpus amber (TLP 1.0)"), tlp1="AMBER", organizations=["rhine-water"]),
        h.domain_name(),
        h.marked(h.note([ind_v1["id"]]), "GREEN"),
        h.marked(h.sighting(ind_v1["id"]), "GREEN"),
    ]
    h.post_ok(nils, objects)
    return objects
