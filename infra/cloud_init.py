"""The server's cloud-init user data: sshd hardening and the host firewall, nothing else.

User data is readable by anyone with access to the Hetzner project (and by every process on
the server through the metadata service), so it must never carry a secret: credentials reach
the host only through Ansible, over SSH, from the SOPS store.
"""

from __future__ import annotations

import json
import re

from frostbyte_common.firewall import FirewallPolicy, nftables_ruleset

SSHD_HARDENING = "\n".join([
    "# Frostbyte: written by cloud-init at first boot; Ansible keeps it.",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitEmptyPasswords no",
    "PermitRootLogin prohibit-password",
    "AuthenticationMethods publickey",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "AllowTcpForwarding no",
    "PermitTunnel no",
    "MaxAuthTries 3",
    "LoginGraceTime 20",
    "ClientAliveInterval 300",
    "",
])

# What a secret looks like, for the guard below (and the tests).
SECRET_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+"),
    re.compile(r"(?i)\b(password|passwd|secret|token)\s*[:=]\s*\S"),
    re.compile(r"(?i)postgres(ql)?://[^:\s]+:[^@\s]+@"),
)


class SecretInUserData(ValueError):
    """Raised instead of rendering user data that would carry a secret."""


def user_data(policy: FirewallPolicy) -> str:
    """``#cloud-config`` for the tenant's server."""
    ruleset = "#!/usr/sbin/nft -f\n" + nftables_ruleset(policy)
    doc = {
        "ssh_pwauth": False,
        "disable_root": False,  # Ansible's first connection is root, by key only
        "package_update": False,
        "write_files": [
            {"path": "/etc/ssh/sshd_config.d/10-frostbyte.conf", "owner": "root:root",
             "permissions": "0644", "content": SSHD_HARDENING},
            {"path": "/etc/nftables.conf", "owner": "root:root", "permissions": "0600",
             "content": ruleset},
        ],
        "runcmd": [
            ["sshd", "-t"],
            ["systemctl", "restart", "ssh"],
            ["systemctl", "enable", "--now", "nftables"],
            ["nft", "-f", "/etc/nftables.conf"],
        ],
    }
    # JSON is YAML: no YAML library needed, and the output is unambiguous
    text = "#cloud-config\n" + json.dumps(doc, indent=2) + "\n"
    for pattern in SECRET_PATTERNS:
        if pattern.search(text):
            raise SecretInUserData("cloud-init user data would carry a secret; refused")
    return text
