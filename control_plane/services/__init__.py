"""Use cases of the control plane."""
