"""The headless subcommands of ``srag-lsp`` (``complete``, ``retrieve``): one module each, called by ``cli.py``."""
