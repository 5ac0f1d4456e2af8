"""`make test-bundle`: the real bundle `make bundle` wrote, the way an air-gapped customer uses it.

1. verify passes; tampered copies (a flipped byte in an image archive, an added file, a removed
   file, a foreign signature) are each refused with a clear message and their own exit code.
2. `frostbyte bundle load` inside a network namespace with NO route at all, with a podman of
   its own (fresh image storage: every image comes from the bundle's archives; its own /run, so
   its DNS helper and locks are not the host's), then a batch of samples/ in and a cited search
   out through the gateway's HTTPS, verified with <home>/ca.pem, from inside the namespace.
3. An older signed bundle is refused (verify and update); a newer one (same images, higher
   version, signed with the same key) is taken by `update`; a newer one whose api cannot start
   is rolled back automatically; `rollback` returns to the first release. Documents stay.
4. All along, an nftables counter in the namespace counts every packet that leaves for anywhere
   but lo and podman's own bridges (host output) and every packet a container sends to an
   address that is neither local nor podman's (before routing, so an attempt counts even with
   no route); a control packet of each kind shows that it counts; the set's own traffic adds 0.

Commands enter the namespace with ``nsenter --net --mount`` into one held mount namespace, not
with ``ip netns exec``: that gives each call a private mount namespace with a fresh /sys (runc
then finds no cgroup mounts) whose container-namespace mounts vanish for the next call.

Prints the bundle's size and the load-to-ready time. Everything it makes (namespace, podman
storage, containers, volumes, networks) is removed at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_bundle.keys import (
    DEV_KEY_PATH,
    SIGNING_KEY_ENV,
    fingerprint,
    private_key_from_pem,
    public_pem,
    read_key_file,
)
from offline_bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    build_manifest,
    parse_manifest,
)

pytestmark = pytest.mark.bundle

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
BUNDLE = ROOT / "dist" / f"frostbyte-bundle-{VERSION}.tar"
FROSTBYTE = Path(sys.executable).parent / "frostbyte"
PORT = 8443
API_COMMAND = "command: [serve]"


# -- the bundle and its signing key --------------------------------------------------------
@dataclass
class Real:
    path: Path
    manifest: Manifest
    key: Ed25519PrivateKey
    pub: Path
    work: Path


def _signing_key() -> Ed25519PrivateKey | None:
    value = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if value.startswith("-----BEGIN"):
        return private_key_from_pem(value.encode(), SIGNING_KEY_ENV)
    path = Path(value) if value else ROOT / DEV_KEY_PATH
    return private_key_from_pem(read_key_file(path), str(path)) if path.is_file() else None


def _read_manifest(path: Path) -> Manifest:
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            if member.name == MANIFEST_NAME:
                stream = tar.extractfile(member)
                assert stream is not None
                return parse_manifest(stream.read())
    raise AssertionError(f"{path} has no {MANIFEST_NAME}")


@pytest.fixture(scope="module")
def real() -> Iterator[Real]:
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE} is absent: run `make bundle` (make test-bundle does)")
    key = _signing_key()
    manifest = _read_manifest(BUNDLE)
    if key is None or fingerprint(key) != manifest.signer:
        pytest.skip(f"the key that signed {BUNDLE.name} ({manifest.signer[:16]}…) is not the "
                    f"checkout's development key nor ${SIGNING_KEY_ENV}: newer bundles for "
                    "the update test cannot be signed")
    # big copies of the bundle go to disk, not to a tmpfs
    work = Path(tempfile.mkdtemp(prefix="fb-bundletest-", dir="/var/tmp"))
    pub = work / "release.pub"
    pub.write_bytes(public_pem(key))
    size = BUNDLE.stat().st_size
    print(f"\nbundle size: {size / 2**20:.1f} MiB ({size} bytes), version {manifest.version}, "
          f"{len(manifest.images)} images")
    try:
        yield Real(BUNDLE, manifest, key, pub, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Copy(io.RawIOBase):
    """Reads a member through, hashing it; flips one byte at ``flip_at`` when asked."""

    def __init__(self, inner: IO[bytes], flip_at: int | None) -> None:
        self.inner, self.flip_at, self.pos = inner, flip_at, 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        if self.flip_at is not None and self.pos <= self.flip_at < self.pos + len(data):
            i = self.flip_at - self.pos
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        self.pos += len(data)
        self.digest.update(data)
        return data


def rewrite(src: Path, dst: Path, *, sign_with: Ed25519PrivateKey | None = None,
            version: str | None = None, replace: dict[str, bytes] | None = None,
            drop: tuple[str, ...] = (), add: dict[str, bytes] | None = None,
            flip: str | None = None) -> Path:
    """A copy of the bundle ``src`` with surgery; re-signed (a new, valid manifest) when
    ``sign_with`` is given, else with the original manifest and signature."""
    replace, add = replace or {}, add or {}
    entries: list[FileEntry] = []
    small: dict[str, bytes] = {}
    with src.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tin, \
            dst.open("wb") as out, tarfile.open(fileobj=out, mode="w",
                                                format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            stream = tin.extractfile(member)
            assert stream is not None
            if member.name in (MANIFEST_NAME, SIGNATURE_NAME):
                small[member.name] = stream.read()
                continue
            if member.name in drop:
                continue
            if member.name in replace:
                data = replace[member.name]
                member.size = len(data)
                tout.addfile(member, io.BytesIO(data))
                entries.append(FileEntry(member.name, hashlib.sha256(data).hexdigest(),
                                         len(data)))
                continue
            reader = _Copy(stream, 1000 if member.name == flip else None)
            tout.addfile(member, reader)
            entries.append(FileEntry(member.name, reader.digest.hexdigest(), member.size))
        for name, data in add.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tout.addfile(info, io.BytesIO(data))
            entries.append(FileEntry(name, hashlib.sha256(data).hexdigest(), len(data)))
        manifest_bytes, signature = small[MANIFEST_NAME], small[SIGNATURE_NAME]
        if sign_with is not None:
            old = parse_manifest(manifest_bytes)
            new = build_manifest(
                version=version or old.version,
                created=datetime.strptime(old.created, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=UTC),
                signer=fingerprint(sign_with), signatures_date=old.signatures_date,
                images=list(old.images), files=entries)
            manifest_bytes = new.to_bytes()
            signature = sign_with.sign(manifest_bytes)
        for name, data in ((MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tout.addfile(info, io.BytesIO(data))
    return dst


def frostbyte(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
              prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, str(FROSTBYTE), *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env, cwd=ROOT)


def _json(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(out.stdout)
    except ValueError as exc:
        raise AssertionError(f"not JSON (exit {out.returncode}):\n{out.stdout[-3000:]}\n"
                             f"{out.stderr[-3000:]}") from exc
    return body


@pytest.fixture(scope="module")
def trusted_home(real: Real) -> Path:
    home = real.work / "verify-home"
    out = frostbyte("bundle", "trust", str(real.pub), "--home", str(home))
    assert out.returncode == 0, out.stderr
    return home


# -- 1. verify and the tampered copies -----------------------------------------------------
def test_the_real_bundle_verifies(real: Real, trusted_home: Path) -> None:
    out = frostbyte("bundle", "verify", str(real.path), "--home", str(trusted_home), "--json")
    body = _json(out)
    assert out.returncode == 0 and body["ok"], body
    assert body["version"] == VERSION and body["signer"] == fingerprint(real.key)
    assert {i["name"] for i in body["images"]} == {"clamd", "dataplane", "gateway",
                                                     "postgres", "s3"}


def _refused(real: Real, home: Path, copy: Path) -> dict[str, Any]:
    try:
        out = frostbyte("bundle", "verify", str(copy), "--home", str(home), "--json")
        body = _json(out)
        body["exit"] = out.returncode
        return body
    finally:
        copy.unlink(missing_ok=True)


def test_a_flipped_byte_in_an_image_archive_is_refused(real: Real, trusted_home: Path) -> None:
    copy = rewrite(real.path, real.work / "flipped.tar", flip="images/clamd.tar")
    body = _refused(real, trusted_home, copy)
    assert body["exit"] == 3 and body["code"] == "INTEGRITY", body
    assert any("images/clamd.tar" in p for p in body["problems"]), body
    assert "copy the bundle again" in body["hint"]


def test_an_added_file_is_refused(real: Real, trusted_home: Path) -> None:
    copy = rewrite(real.path, real.work / "added.tar", add={"images/extra.tar": b"x" * 100})
    body = _refused(real, trusted_home, copy)
    assert body["exit"] == 3 and body["code"] == "INTEGRITY", body
    assert any("images/extra.tar" in p and "unexpected" in p for p in body["problems"]), body


def test_a_removed_file_is_refused(real: Real, trusted_home: Path) -> None:
    copy = rewrite(real.path, real.work / "removed.tar", drop=("sbom/gateway.cdx.json",))
    body = _refused(real, trusted_home, copy)
    assert body["exit"] == 3 and body["code"] == "INTEGRITY", body
    assert any("sbom/gateway.cdx.json" in p and "missing" in p for p in body["problems"]), body


def test_a_foreign_signature_is_refused(real: Real, trusted_home: Path) -> None:
    stranger = Ed25519PrivateKey.generate()
    copy = rewrite(real.path, real.work / "foreign.tar", sign_with=stranger)
    body = _refused(real, trusted_home, copy)
    assert body["exit"] == 5 and body["code"] == "SIGNATURE", body
    assert fingerprint(stranger) in body["message"] + " ".join(body["problems"]), body


# -- 2. the namespace with no route, and a podman of its own -------------------------------
NFT_RULES = """
table inet fbegress {
  counter outbound { }
  chain output {
    type filter hook output priority 0; policy accept;
    oifname "lo" accept
    oifname "podman*" accept
    oifname "veth*" accept
    counter name "outbound"
  }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    iifname != "podman*" accept
    meta pkttype { broadcast, multicast } accept
    fib daddr type local accept
    ip daddr 10.88.0.0/15 accept
    ip6 daddr fe80::/10 accept
    counter name "outbound"
  }
}
"""


def _sh(*argv: str, check: bool = True, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                         check=False, env=env, cwd=ROOT)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {out.returncode}\n{out.stdout[-2000:]}"
                             f"\n{out.stderr[-2000:]}")
    return out


@dataclass
class Sandbox:
    """A network namespace with no route, and a mount namespace (held by one sleeping
    process) with its own /run and /dev/shm; podman inside uses a storage of its own."""

    ns: str
    work: Path
    holder: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)
    tenant: str = ""

    @property
    def enter(self) -> tuple[str, ...]:
        return ("nsenter", f"--target={self.holder.pid}", "--net", "--mount", f"--wd={ROOT}",
                "--")

    def run(self, *argv: str, check: bool = True, timeout: float = 600
            ) -> subprocess.CompletedProcess[str]:
        return _sh(*self.enter, *argv, check=check, timeout=timeout, env=self.env)

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("podman", *args, check=check)

    def outbound(self) -> int:
        out = _sh("ip", "netns", "exec", self.ns, "nft", "-j", "list", "counter", "inet",
                  "fbegress", "outbound")
        for item in json.loads(out.stdout)["nftables"]:
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise AssertionError(out.stdout)


@pytest.fixture(scope="module")
def sandbox(real: Real) -> Iterator[Sandbox]:
    for tool in ("ip", "nft", "nsenter", "unshare", "podman"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    ns = f"fbbundle{secrets.token_hex(3)}"
    work = real.work / "sandbox"
    work.mkdir()
    (work / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{work}/storage"\n'
        'runroot = "/run/containers/storage"\n')
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_CONF"}
    env["CONTAINERS_STORAGE_CONF"] = str(work / "storage.conf")
    _sh("ip", "netns", "add", ns)
    holder: subprocess.Popen[bytes] | None = None
    try:
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        (work / "rules.nft").write_text(NFT_RULES)
        _sh("ip", "netns", "exec", ns, "nft", "-f", str(work / "rules.nft"))
        holder = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{ns}", "--", "unshare", "--mount",
             "--propagation", "private", "--", "sh", "-ec",
             "mount -t tmpfs -o mode=0755 tmpfs /run; mount -t tmpfs tmpfs /dev/shm; "
             "touch /run/.fb-sandbox; exec sleep infinity"])
        box = Sandbox(ns=ns, work=work, holder=holder, env=env, tenant=ns)
        deadline = time.monotonic() + 30
        while box.run("test", "-e", "/run/.fb-sandbox", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the sandbox's mount namespace did not start"
            time.sleep(0.2)
        yield box
    finally:
        if holder is not None:
            box = Sandbox(ns=ns, work=work, holder=holder, env=env, tenant=ns)
            listed = box.podman("network", "ls", "--format", "{{.Name}}", check=False)
            # /etc/containers/networks is shared with the host's podman: only the set's own
            ours = [n for n in listed.stdout.split() if n.startswith(f"frostbyte-{ns}_")]
            box.podman("rm", "-af", "-t", "0", check=False)
            box.podman("volume", "rm", "-af", check=False)
            for name in ours:
                box.podman("network", "rm", "-f", name, check=False)
            box.podman("system", "prune", "-af", check=False)
            # podman's DNS helper of the sandbox outlives it: end it, by pid
            our_net = Path(f"/proc/{holder.pid}/ns/net").readlink()
            for pid in _sh("pgrep", "-x", "aardvark-dns", check=False).stdout.split():
                try:
                    if Path(f"/proc/{pid}/ns/net").readlink() == our_net:
                        os.kill(int(pid), 15)
                except OSError:
                    pass
            holder.kill()
            holder.wait(timeout=30)
            for name in ours:  # what the sandbox could not remove
                if Path(f"/etc/containers/networks/{name}.json").exists():
                    _sh("podman", "network", "rm", "-f", name, check=False)
        _sh("ip", "netns", "del", ns, check=False)
        _sh("rm", "-rf", str(work), check=False)


def test_the_namespace_has_no_route_and_its_counter_counts(sandbox: Sandbox) -> None:
    unreachable = _sh("ip", "netns", "exec", sandbox.ns, "ip", "route", "get", "1.1.1.1",
                      check=False)
    assert unreachable.returncode != 0 and "unreachable" in unreachable.stderr, unreachable
    routes = _sh("ip", "netns", "exec", sandbox.ns, "ip", "route", "show").stdout.strip()
    assert routes == "", routes
    # control packet: a link that is not lo nor podman's, one UDP datagram out of it
    before = sandbox.outbound()
    ns = ("ip", "netns", "exec", sandbox.ns)
    _sh(*ns, "ip", "link", "add", "fbsink0", "type", "veth", "peer", "name", "fbsink1")
    try:
        for end in ("fbsink0", "fbsink1"):  # no IPv6 chatter, no ARP: the datagram alone
            _sh(*ns, "sysctl", "-qw", f"net.ipv6.conf.{end}.disable_ipv6=1")
            _sh(*ns, "ip", "link", "set", end, "arp", "off", "up")
        _sh(*ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "fbsink0")
        _sh(*ns, sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, "
            "socket.SOCK_DGRAM).sendto(b'control', ('192.0.2.2', 9))")
    finally:
        _sh(*ns, "ip", "link", "del", "fbsink0")
    assert sandbox.outbound() == before + 1, "the counter missed the control packet"
    assert _sh(*ns, "ip", "route", "show").stdout.strip() == ""


# -- 3. load, use, update, roll back -------------------------------------------------------
@dataclass
class Install:
    home: Path
    tenant: str
    key: str
    url: str
    baseline: int
    loaded: dict[str, Any]


@pytest.fixture(scope="module")
def install(real: Real, sandbox: Sandbox) -> Install:
    home = real.work / "home"
    tenant = sandbox.tenant
    trust = frostbyte("bundle", "trust", str(real.pub), "--home", str(home))
    assert trust.returncode == 0, trust.stderr
    baseline = sandbox.outbound()
    out = frostbyte("bundle", "load", str(real.path), "--home", str(home), "--tenant", tenant,
                    "--publish", f"127.0.0.1:{PORT}", "--json", prefix=sandbox.enter,
                    env=sandbox.env, timeout=1800)
    body = _json(out)
    assert out.returncode == 0 and body["ok"], f"{body}\n{out.stderr[-4000:]}"
    print(f"\nload-to-ready time: {body['load_to_ready_s']:.1f} s (bundle "
          f"{body['bundle_bytes'] / 2**20:.1f} MiB, fresh podman storage, no route)")
    return Install(home=home, tenant=tenant, key=body["vendor_key"]["key"],
                   url=body["endpoint"], baseline=baseline, loaded=body)


def client(sandbox: Sandbox, inst: Install, action: str) -> dict[str, Any]:
    out = sandbox.run(sys.executable, "-m", "tests.bundle.netns_client", inst.url,
                      str(inst.home / "ca.pem"), inst.key, action, timeout=1200)
    return _json(out)


def status(inst: Install) -> dict[str, Any]:
    return _json(frostbyte("bundle", "status", "--home", str(inst.home), "--json"))


def cited_search(sandbox: Sandbox, inst: Install) -> dict[str, Any]:
    found = client(sandbox, inst, "search")
    assert found["status"] == 200, found
    hits = found["body"]["hits"]
    assert hits and hits[0]["document_name"] == "parking-permit-faq.txt", hits[:2]
    assert "charging" in hits[0]["text"].lower()
    proof = found["body"]["proof"]
    assert proof["chunk_hashes"] == [h["content_sha256"] for h in hits]
    assert proof["query_sha256"] == hashlib.sha256(
        b"how many electric-vehicle charging bays are there").hexdigest()
    return found


def test_load_gives_a_ready_set_its_secrets_and_ca(real: Real, install: Install) -> None:
    home = install.home
    assert (home / "ca.pem").is_file()
    assert (home / "secrets").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (home / "secrets").iterdir()) == sorted(
        ["db_password", "object_data_keys", "object_store_access_key",
         "object_store_secret_key", "signing_key", "tls_cert", "tls_key"])
    assert (home / "ca" / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert install.key.startswith("fbk_")
    assert status(install)["installed"]["version"] == VERSION


def test_a_batch_goes_in_and_a_cited_search_comes_out_offline(sandbox: Sandbox,
                                                              install: Install) -> None:
    result = client(sandbox, install, "ingest")
    batch = result.get("batch")
    assert batch, result
    statuses = {d["name"]: d["status"] for d in batch["documents"]}
    assert set(statuses.values()) == {"INDEXED"}, batch
    cited_search(sandbox, install)
    # a key this installation never issued is refused at the gateway
    stranger = Install(install.home, install.tenant, "fbk_000000000000_not-a-key", install.url,
                       0, {})
    assert client(sandbox, stranger, "search")["status"] == 401


def test_an_older_bundle_is_refused_by_verify_and_update(real: Real, sandbox: Sandbox,
                                                         install: Install) -> None:
    older = rewrite(real.path, real.work / "older.tar", sign_with=real.key,
                    version=f"{VERSION}.dev0")
    try:
        out = frostbyte("bundle", "verify", str(older), "--home", str(install.home), "--json")
        body = _json(out)
        assert out.returncode == 7 and body["code"] == "DOWNGRADE", body
        assert VERSION in body["message"] and f"{VERSION}.dev0" in body["message"]
        out = frostbyte("bundle", "update", str(older), "--home", str(install.home), "--json",
                        prefix=sandbox.enter, env=sandbox.env)
        assert out.returncode == 7, out.stdout + out.stderr
    finally:
        older.unlink(missing_ok=True)
    assert status(install)["installed"]["version"] == VERSION


def _container_images(sandbox: Sandbox, inst: Install) -> set[str]:
    out = sandbox.podman("ps", "--filter", f"label=com.docker.compose.project=frostbyte-"
                         f"{inst.tenant}", "--format", "{{.Image}}")
    return set(out.stdout.split())


def test_update_to_a_newer_bundle_keeps_the_data(real: Real, sandbox: Sandbox,
                                                 install: Install) -> None:
    newer = rewrite(real.path, real.work / "newer.tar", sign_with=real.key,
                    version=f"{VERSION}.post1")
    try:
        out = frostbyte("bundle", "update", str(newer), "--home", str(install.home), "--json",
                        prefix=sandbox.enter, env=sandbox.env, timeout=1800)
    finally:
        newer.unlink(missing_ok=True)
    body = _json(out)
    assert out.returncode == 0 and body["to"] == f"{VERSION}.post1", out.stderr[-4000:]
    print(f"\nupdate {body['from']} -> {body['to']}: ready in {body['seconds']:.1f} s")
    state = status(install)
    assert state["installed"]["version"] == f"{VERSION}.post1"
    assert state["previous"]["version"] == VERSION
    images = _container_images(sandbox, install)
    assert images and all(f":{VERSION}.post1-" in i for i in images), images
    cited_search(sandbox, install)  # same volumes, same secrets: the documents are there


def test_a_newer_bundle_that_cannot_get_ready_is_rolled_back(real: Real, sandbox: Sandbox,
                                                             install: Install) -> None:
    compose = (real.work / "compose.yaml")
    with tarfile.open(real.path, mode="r|") as tar:
        for member in tar:
            if member.name == "compose.yaml":
                stream = tar.extractfile(member)
                assert stream is not None
                compose.write_bytes(stream.read())
                break
    text = compose.read_text()
    assert text.count(API_COMMAND) == 1, "the api's command moved: adjust this test"
    broken = text.replace(API_COMMAND, "command: [no-such-command]")  # the api exits at once
    bad = rewrite(real.path, real.work / "broken.tar", sign_with=real.key,
                  version=f"{VERSION}.post2", replace={"compose.yaml": broken.encode()})
    try:
        out = frostbyte("bundle", "update", str(bad), "--home", str(install.home), "--json",
                        "--timeout", "120", prefix=sandbox.enter, env=sandbox.env,
                        timeout=1800)
    finally:
        bad.unlink(missing_ok=True)
    body = _json(out)
    assert out.returncode == 11 and body["code"] == "ROLLED_BACK", body
    assert f"{VERSION}.post2" in body["message"] and "Rolled back" in body["message"], body
    state = status(install)
    assert state["installed"]["version"] == f"{VERSION}.post1"
    assert state["previous"]["version"] == VERSION
    images = _container_images(sandbox, install)
    assert images and all(f":{VERSION}.post1-" in i for i in images), images
    cited_search(sandbox, install)


def test_rollback_returns_to_the_previous_release(sandbox: Sandbox, install: Install) -> None:
    out = frostbyte("bundle", "rollback", "--home", str(install.home), "--json",
                    prefix=sandbox.enter, env=sandbox.env, timeout=1800)
    body = _json(out)
    assert out.returncode == 0 and body["to"] == VERSION, out.stderr[-4000:]
    state = status(install)
    assert state["installed"]["version"] == VERSION
    assert state["previous"]["version"] == f"{VERSION}.post1"
    images = _container_images(sandbox, install)
    assert images and not any(".post" in i for i in images), images
    cited_search(sandbox, install)


def test_nothing_left_the_namespace(sandbox: Sandbox, install: Install) -> None:
    sent = sandbox.outbound() - install.baseline
    print(f"\noutbound packets counted during load, ingest, search, update, rollback: {sent}")
    assert sent == 0
    # control: the set's gateway container (its edge network has a default route to the
    # namespace) sends one datagram outward: counted
    gateway = sandbox.podman("ps", "--filter", f"label=com.docker.compose.project=frostbyte-"
                             f"{install.tenant}", "--filter",
                             "label=com.docker.compose.service=gateway",
                             "--format", "{{.Names}}").stdout.split()
    assert gateway, "the set has no gateway container"
    before = sandbox.outbound()
    sandbox.podman("exec", gateway[0], "bash", "-c",
                   "exec 3<>/dev/udp/192.0.2.9/9; echo control >&3")
    counted = sandbox.outbound() - before
    print(f"control datagram from a container: {counted} packet(s) counted")
    assert counted >= 1, "a container's outbound attempt was not counted"
