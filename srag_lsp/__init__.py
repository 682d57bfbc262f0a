"""srag-lsp: a local code-assistant daemon that speaks the Language Server Protocol."""

__version__ = "0.1.0"
