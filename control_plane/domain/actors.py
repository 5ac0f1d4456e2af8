"""Who an event or a call is recorded as when no admin asked for it."""

from __future__ import annotations

# the actor of the control plane's own transitions and data-plane calls (provisioning jobs,
# recovery at start-up, the audit archive); admins are recorded by their token's name
SYSTEM_ACTOR = "control-plane"
