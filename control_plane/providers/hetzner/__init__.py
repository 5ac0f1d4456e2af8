"""The ``hetzner`` provider (SPEC §4): one Pulumi stack ``tenant-<slug>`` per tenant (the
program in ``infra/``), then Ansible (``playbooks/``) over SSH. Import the pieces from their
modules; nothing here imports Pulumi or Ansible, so the control plane starts without them."""
