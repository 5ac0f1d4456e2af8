"""Tenant "hosts" for the slow suite: network namespaces on this machine.

    control ns (198.18.0.2) ─┐
    tenant A  (198.18.1.2) ──┼── router ns (198.18.{0,1,2}.1, forwarding)
    tenant B  (198.18.2.2) ──┘

Every host is its own network namespace joined to the router by a veth pair, runs its own
sshd (keys only, with the Frostbyte drop-in included) and gets the nftables ruleset of its
tenant's firewall policy at creation, as cloud-init does on Hetzner. Addresses are from
198.18.0.0/15 (reserved for network tests), and no link leaves the namespaces made here.
Every process the harness starts is recorded by PID and ended by PID; the namespaces are
deleted on close. Filesystems are shared with this machine, so each host's paths (service
folder, sshd drop-ins, nftables file) are folders of its own under the harness's root.

Each host's sshd (and so everything a playbook runs there) also gets a mount namespace of
its own in which the container engine's folders are the host's own (``CONTAINER_PATHS``
bind-mounted from ``<host>/containers``): its podman has its own images, containers,
volumes, networks and DNS (netavark's run folder is fixed), as a separate server would.
sshd is entered into its network namespace with nsenter, not ``ip netns exec``, which
would remount /sys and hide the cgroup mounts runc needs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from frostbyte_common.firewall import FirewallPolicy, nftables_ruleset

SSHD = "/usr/sbin/sshd"
CONTAINERS_CONF = Path(__file__).resolve().parents[2] / "images" / "containers.conf"
CONTROL_ADDRESS = "198.18.0.2"
#: the container engine's machine-wide folders, private to each host
CONTAINER_PATHS = ("/var/lib/containers", "/run/containers", "/run/libpod",
                   "/etc/containers/networks")


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        argv, check=True, capture_output=True, text=True, timeout=60, **kwargs)
    return done


@dataclass
class Host:
    name: str
    netns: str
    address: str
    root: Path
    policy: FirewallPolicy | None = None
    sshd_pid: int | None = None

    @property
    def base_dir(self) -> Path:
        return self.root / "srv"

    @property
    def sshd_dropins(self) -> Path:
        return self.root / "etc" / "ssh" / "sshd_config.d"

    @property
    def nftables_file(self) -> Path:
        return self.root / "etc" / "nftables.conf"

    @property
    def containers_dir(self) -> Path:
        """The host's own copies of :data:`CONTAINER_PATHS`."""
        return self.root / "containers"

    def enter(self) -> list[str]:
        """A command line prefix that runs a command as this host's sshd does: in its
        network namespace and its mount namespace (its own container engine folders)."""
        assert self.sshd_pid is not None
        return ["nsenter", f"--target={self.sshd_pid}", "--mount", "--net"]


@dataclass
class Lab:
    root: Path
    tag: str = field(default_factory=lambda: f"{os.getpid() % 10000:04d}")
    hosts: dict[str, Host] = field(default_factory=dict)
    _namespaces: list[str] = field(default_factory=list)
    _pids: list[int] = field(default_factory=list)

    # -- building ------------------------------------------------------------------------
    def ns(self, role: str) -> str:
        return f"fbt{self.tag}-{role}"

    @property
    def router(self) -> str:
        return self.ns("router")

    @property
    def control(self) -> str:
        return self.ns("cp")

    def _add_ns(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self._namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def up(self) -> None:
        self._add_ns(self.router)
        run(["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self._add_ns(self.control)
        self._link(self.control, 0, CONTROL_ADDRESS)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation

    def _link(self, netns: str, index: int, address: str) -> None:
        inner, outer = f"fb{self.tag}h{index}", f"fb{self.tag}r{index}"
        run(["ip", "link", "add", inner, "type", "veth", "peer", "name", outer])
        run(["ip", "link", "set", inner, "netns", netns])
        run(["ip", "link", "set", outer, "netns", self.router])
        run(["ip", "-n", netns, "addr", "add", f"{address}/24", "dev", inner])
        run(["ip", "-n", netns, "link", "set", inner, "up"])
        gateway = address.rsplit(".", 1)[0] + ".1"
        run(["ip", "-n", self.router, "addr", "add", f"{gateway}/24", "dev", outer])
        run(["ip", "-n", self.router, "link", "set", outer, "up"])
        run(["ip", "-n", netns, "route", "add", "default", "via", gateway])

    def add_host(self, name: str, index: int, policy: FirewallPolicy,
                 authorized_key: str) -> Host:
        host = Host(name=name, netns=self.ns(name), address=f"198.18.{index}.2",
                    root=self.root / name, policy=policy)
        self._add_ns(host.netns)
        self._link(host.netns, index, host.address)
        for folder in (host.base_dir, host.sshd_dropins):
            folder.mkdir(parents=True, exist_ok=True)
        # the firewall the server boots with (cloud-init on Hetzner)
        host.nftables_file.write_text(nftables_ruleset(policy), encoding="utf-8")
        run(["ip", "netns", "exec", host.netns, "nft", "-f", str(host.nftables_file)])
        self._start_sshd(host, authorized_key)
        self.hosts[name] = host
        return host

    def _start_sshd(self, host: Host, authorized_key: str) -> None:
        key = host.root / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        (host.root / "authorized_keys").write_text(authorized_key + "\n", encoding="utf-8")
        config = host.root / "sshd_config"
        config.write_text("\n".join([
            f"Include {host.sshd_dropins}/*.conf",
            f"ListenAddress {host.address}",
            "Port 22",
            f"HostKey {key}",
            f"PidFile {host.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {host.root / 'authorized_keys'}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "Subsystem sftp internal-sftp",
            # the hosts share this machine's /root: keep bash from running root's ~/.bashrc
            # (bash sources it for ssh sessions only at shell level 1)
            "SetEnv SHLVL=1",
            "",
        ]), encoding="utf-8")
        run([SSHD, "-t", "-f", str(config)])
        binds = []
        for path in CONTAINER_PATHS:
            Path(path).mkdir(parents=True, exist_ok=True)  # the mount points
            own = host.containers_dir / path.strip("/").replace("/", "-")
            own.mkdir(parents=True, exist_ok=True)
            binds.append(f"mount --bind {own} {path}")
        # nsenter and unshare exec (no fork): the PID recorded is sshd's
        child = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{host.netns}", "unshare", "--mount",
             "--propagation", "slave", "sh", "-ec",
             " && ".join([*binds, f"exec {SSHD} -D -e -f {config}"])],
            stdout=subprocess.DEVNULL, stderr=(host.root / "sshd.log").open("ab"),
            start_new_session=True)
        self._pids.append(child.pid)
        host.sshd_pid = child.pid
        deadline = time.monotonic() + 10
        while not self.can_connect(self.control, host.address, 22):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd of {host.name} did not come up")
            time.sleep(0.2)

    # -- probing ---------------------------------------------------------------------------
    def can_connect(self, netns: str, address: str, port: int, timeout: float = 1.5) -> bool:
        """True if a TCP connection from ``netns`` to ``address:port`` is accepted."""
        code = (f"import socket\ntry:\n socket.create_connection(({address!r}, {port}), "
                f"timeout={timeout}).close()\nexcept OSError:\n raise SystemExit(1)")
        result = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", code],
                                capture_output=True, timeout=timeout + 20, check=False)
        return result.returncode == 0

    def http_get(self, netns: str, url: str) -> tuple[int, str]:
        code = ("import sys, urllib.request, urllib.error\n"
                f"try:\n r = urllib.request.urlopen({url!r}, timeout=3)\n"
                " print(r.status); print(r.read().decode())\n"
                "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n"
                "except OSError:\n print(0); print('')\n")
        out = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", code],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        status, _, body = out.partition("\n")
        return int(status), body.strip()

    # -- teardown --------------------------------------------------------------------------
    def remove_containers(self, host: Host) -> None:
        """Remove every container left in the host's own engine (their processes live in
        namespaces of their own, which closing the host's would not end)."""
        if host.sshd_pid is None or not any(host.containers_dir.rglob("*")):
            return
        env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        listed = subprocess.run([*host.enter(), "podman", "ps", "--all", "--quiet"],
                                capture_output=True, text=True, env=env, timeout=60,
                                check=False).stdout.split()
        sandboxes = subprocess.run(
            [*host.enter(), "podman", "inspect", "--format",
             "{{.NetworkSettings.SandboxKey}}", *listed],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        ).stdout.split() if listed else []
        subprocess.run([*host.enter(), "podman", "rm", "--all", "--force", "--time", "2"],
                       capture_output=True, env=env, timeout=300, check=False)
        # podman bind-mounts each container's network namespace on a file in /run/netns in
        # the host's own mount namespace; the file itself is this machine's: remove it
        for sandbox in sandboxes:
            if sandbox.startswith("/run/netns/netns-"):
                Path(sandbox).unlink(missing_ok=True)

    def close(self) -> None:
        """End the processes this lab started (by PID, and the sessions they lead), then
        delete its namespaces (which removes their veth pairs)."""
        for host in self.hosts.values():
            self.remove_containers(host)
        for pid in reversed(self._pids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)  # sshd was started as its own session leader
        for pid in reversed(self._pids):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for name in reversed(self._namespaces):
            for pid in self.pids_in(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # left by a test inside our namespace only
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        self._namespaces.clear()

    @staticmethod
    def pids_in(netns: str) -> list[int]:
        result = subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                                text=True, check=False)
        return [int(p) for p in result.stdout.split()]

