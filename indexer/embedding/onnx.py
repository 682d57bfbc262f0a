"""The local embedder: all-MiniLM-L6-v2 (int8 ONNX from a PyPI package) on onnxruntime, one thread.

Texts are prepared for a lower-case WordPiece vocabulary that knows English, not code: camelCase and
snake_case identifiers are split into words (``parseHttpResponse`` -> ``parse Http Response``), which keeps
the 128-token window for meaning rather than underscores. Chunks keep their first 128 tokens (the model was
trained at that length; it is also 2.4x faster than 256 here); a query keeps its last 128 (the lines just
before the cursor). Vectors are the attention-masked mean of the last hidden state, L2-normalised (384
floats), as sentence-transformers computes them.

The model loads on first use (about 0.4 s; the process grows by about 160 MB: onnxruntime's graph optimisations
expand the int8 weights, and without them a single query is 2.6x slower). The memory arena is off (about
80 MB less resident, a few % slower). One ONNX thread: on a 2-core laptop the embedder must not compete with
the completion model for both cores. Texts of a call are sorted by length and run in small
sub-batches, so short chunks are not padded to the longest one.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.embedding.base import EmbeddingError, EmbeddingUnavailable
from indexer.embedding.files import FETCH_COMMAND, ModelFilesError, onnx_path, tokenizer_path, tokenizer_ready

log = logging.getLogger(__name__)

LOCAL_MODEL_ID = "local:all-minilm-l6-v2-int8-t128"  # model, preparation and window: a change means new vectors
DIM = 384
MAX_TOKENS = 128
SUB_BATCH = 8  # texts per ONNX run (sorted by length first)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_UNDERSCORES = re.compile(r"_+")


def prepare_text(text: str) -> str:
    """Identifiers split into words for an English vocabulary: ``get_HTTPResponse`` -> ``get HTTP Response``."""
    return _UNDERSCORES.sub(" ", _CAMEL.sub(" ", text))


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime; thread-safe (one call at a time); loads on first use."""

    model_id = LOCAL_MODEL_ID
    batch_size = 16  # about 0.3 to 1 s of work on one core: the background embedder yields between batches

    def __init__(self, model_dir: str | Path | None = None, *, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        self.model_dir = model_dir
        self.threads = max(1, int(threads))
        self.max_tokens = max(8, int(max_tokens))
        self._lock = threading.Lock()
        self._session: Any = None
        self._np: Any = None
        self._tokenizers: dict[str, Any] = {}

    @property
    def dim(self) -> int:
        return DIM

    def check(self) -> None:
        """Raise EmbeddingUnavailable (saying what to install or run) unless every part is here; loads nothing."""
        missing = [name for name in ("onnxruntime", "tokenizers", "numpy") if not _importable(name)]
        if missing:
            raise EmbeddingUnavailable(
                f"local embeddings need {', '.join(missing)}: pip install 'srag-lsp[embeddings]'"
            )
        try:
            onnx_path()
        except ModelFilesError as exc:
            raise EmbeddingUnavailable(str(exc)) from None
        if not tokenizer_ready(self.model_dir):
            raise EmbeddingUnavailable(
                f"the local embedding model's tokenizer is missing ({tokenizer_path(self.model_dir)}): "
                f"run `{FETCH_COMMAND}` once"
            )

    def warm(self) -> None:
        """Load the model now (a caller that wants the first query fast does this in a thread)."""
        with self._lock:
            self._load()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors for ``texts`` (chunks: each keeps its first 128 tokens)."""
        return self._embed(list(texts), "right")

    def embed_query(self, text: str) -> list[float]:
        """A unit vector for a search text (keeps its last 128 tokens)."""
        return self._embed([text], "left")[0]

    # -- internals ------------------------------------------------------------------------------------
    def _embed(self, texts: list[str], direction: str) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            self._load()
            np = self._np
            try:
                encodings = self._tokenizers[direction].encode_batch([prepare_text(t) for t in texts])
            except Exception as exc:
                raise EmbeddingError(f"tokenizing {len(texts)} texts failed: {exc}") from exc
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            out: list[Any] = [None] * len(texts)
            for start in range(0, len(order), SUB_BATCH):
                group = order[start : start + SUB_BATCH]
                width = max(len(encodings[i].ids) for i in group)
                ids = np.zeros((len(group), width), dtype=np.int64)
                mask = np.zeros((len(group), width), dtype=np.int64)
                for row, i in enumerate(group):
                    n = len(encodings[i].ids)
                    ids[row, :n] = encodings[i].ids
                    mask[row, :n] = 1
                try:
                    hidden = self._session.run(
                        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                    )[0]
                except Exception as exc:
                    raise EmbeddingError(f"the ONNX model failed on {len(group)} texts: {exc}") from exc
                weights = mask[..., None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
                norms = np.linalg.norm(pooled, axis=1, keepdims=True)
                pooled = pooled / np.maximum(norms, 1e-12)
                for row, i in enumerate(group):
                    out[i] = pooled[row]
            return [vector.astype(np.float32).tolist() for vector in out]

    def _load(self) -> None:
        if self._session is not None:
            return
        self.check()
        import numpy
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # 80 MB less resident after a batch, within a few % of the speed
        options.log_severity_level = 3
        try:
            session = onnxruntime.InferenceSession(str(onnx_path()), options, providers=["CPUExecutionProvider"])
            tokenizers = {}
            for direction in ("right", "left"):
                tokenizer = Tokenizer.from_file(str(tokenizer_path(self.model_dir)))
                tokenizer.no_padding()  # we pad each sub-batch ourselves
                tokenizer.enable_truncation(self.max_tokens, direction=direction)
                tokenizers[direction] = tokenizer
        except Exception as exc:
            raise EmbeddingUnavailable(f"cannot load the local embedding model: {exc}") from exc
        names = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask", "token_type_ids"} <= names:
            raise EmbeddingUnavailable(f"unexpected ONNX inputs {sorted(names)} in {onnx_path()}")
        self._np, self._session, self._tokenizers = numpy, session, tokenizers
        log.info("loaded the local embedding model (%s, %d thread)", LOCAL_MODEL_ID, self.threads)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
