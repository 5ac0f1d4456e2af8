"""The infra tests need the Pulumi SDK and the hcloud package (not the CLI); where they are
not installed the folder is skipped rather than failing collection."""

import importlib.util

collect_ignore_glob = (
    [] if importlib.util.find_spec("pulumi") and importlib.util.find_spec("pulumi_hcloud")
    else ["test_*.py"]
)
