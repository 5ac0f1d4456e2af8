"""Pure control-plane domain: the tenant lifecycle. Nothing here does I/O."""
