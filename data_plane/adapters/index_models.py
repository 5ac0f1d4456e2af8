"""The checks every ``VectorIndex`` adapter makes before it writes or searches: vectors of
one embedding model only, of that model's dimension (SPEC §5.4: mixing models in one
collection is refused)."""

from __future__ import annotations

from collections.abc import Sequence

from data_plane.domain.ports import IndexPoint, ModelInfo
from data_plane.errors import ModelMismatch


def describe(model: ModelInfo) -> str:
    return f"{model.name}@{model.version} ({model.dimension}-d)"


def require_same_model(recorded: ModelInfo, model: ModelInfo, where: str) -> None:
    """Refuse ``model`` for an index (``where``: how to name it) made for ``recorded``."""
    if recorded != model:
        raise ModelMismatch(
            f"{where} was made for {describe(recorded)}, not {describe(model)}; "
            "re-embed into a new collection to switch models")


def require_point_dimensions(model: ModelInfo, points: Sequence[IndexPoint]) -> None:
    for point in points:
        if len(point.vector) != model.dimension:
            raise ModelMismatch(
                f"point {point.point_id} has a {len(point.vector)}-d vector; "
                f"{describe(model)} makes {model.dimension}-d vectors")


def require_query_dimension(model: ModelInfo, vector: Sequence[float]) -> None:
    if len(vector) != model.dimension:
        raise ModelMismatch(f"query vector is {len(vector)}-d; {describe(model)} makes "
                            f"{model.dimension}-d vectors")
