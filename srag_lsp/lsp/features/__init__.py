"""One module per LSP feature. Each has module-level handlers and a ``register(server)`` that wires them."""
