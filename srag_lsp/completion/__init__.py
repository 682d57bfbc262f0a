"""The completion engine: one task per request — draft stream, retrieval and refinement — with its caches."""
