"""The LSP wing: the server class, its features (one module each, wired in ``server.FEATURES``) and the guard that
answers every malformed message."""
