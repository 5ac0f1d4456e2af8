"""The Ansible playbooks and roles of a tenant data plane, shipped in the wheel as package
data so that the ``hetzner`` provider finds them with :mod:`importlib.resources` (see
``control_plane/providers/hetzner/ansible.py``); in the repository they are this folder."""
