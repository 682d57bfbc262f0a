"""Typed settings in one place: defaults, environment variables, then editor options, each value validated.

Precedence (lowest to highest): the defaults below, environment variables (``SRAG_*`` and ``OLLAMA_HOST``),
then ``initializationOptions`` / ``workspace/didChangeConfiguration``. An invalid value is reported as a
problem (the server shows it with ``window/showMessage``) and the previous value is kept.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

BACKENDS = ("auto", "ollama", "embedded", "openai", "llama-server")
STRATEGIES = ("streaming", "sequential", "local")
EMBEDDINGS = ("off", "local", "ollama")
EMBEDDED_WEIGHTS = ("auto", "shipped")  # where the embedded model's weights come from (models/bf16_weights.py)
TEMPLATES = ("auto", "qwen", "codellama", "deepseek", "starcoder", "codegemma", "codestral", "prefix")


def default_cache_dir() -> Path:
    return Path(os.environ.get("SRAG_CACHE_DIR") or platformdirs.user_cache_dir("srag-lsp"))


def default_model_dir() -> Path:
    """Assembled GGUF files live apart from traces and indexes, so a scratch cache folder doesn't copy them."""
    return Path(os.environ.get("SRAG_MODEL_DIR") or Path(platformdirs.user_cache_dir("srag-lsp")) / "models")


@dataclass(slots=True)
class Settings:
    # --- model backends ---------------------------------------------------------------------------
    backend: str = "auto"  # auto: Ollama when it answers, else the embedded llama.cpp model
    ollama_host: str = "http://127.0.0.1:11434"
    # Editor options may point a model server's address (ollama_host, openai_base_url, llama_server_url) at another
    # machine only when this is on (the environment always may): a workspace's settings must not send the user's
    # code elsewhere. VS Code takes all of them from user settings only.
    allow_remote_model_host: bool = False
    # backend "openai": any OpenAI-compatible /v1/completions (vLLM, SGLang, TGI, LM Studio, llama-server)
    openai_base_url: str = ""  # e.g. http://gpu-box:8000/v1
    openai_model: str = ""  # the name the server gives the model (GET /v1/models lists them)
    openai_api_key_env: str = ""  # the NAME of an environment variable that holds the key (never the key itself)
    # backend "llama-server": llama.cpp's server, asked with /infill
    llama_server_url: str = "http://127.0.0.1:8080"
    ollama_model: str = "qwen2.5-coder:1.5b-base"
    embedded_model: str = "qwen2.5-coder-0.5b"  # a catalogue name or a path to a .gguf file
    draft_model: str = ""  # two-stage generation: a model for drafts ("" = the main model)
    refine_model: str = ""  # a model for refinements ("" = the main model)
    prompt_template: str = "auto"  # chosen from the model name; see srag_lsp/prompts/
    keep_alive: str = "30m"
    embedded_threads: int = 0  # llama.cpp threads for the embedded model (0 = every core)
    # auto: a catalogue model runs from a BF16 copy of its shipped file where llama.cpp computes BF16 natively
    # (prompts 1.4x faster, tokens 1.6x slower; models/bf16_weights.py); shipped: always the shipped file
    embedded_weights: str = "auto"
    # --- generation -------------------------------------------------------------------------------
    max_tokens: int = 64
    draft_max_tokens: int = 24  # drafts stay short (one line) until context arrives
    temperature: float = 0.0
    num_ctx: int = 4096
    prefix_lines: int = 60  # lines of the file before the cursor in the prompt (an anchored window: 31 to 60)
    suffix_lines: int = 0  # lines after the cursor's line in the prompt (each costs every keystroke)
    draft_prefix_lines: int = 12  # the draft's smaller window, so a cold place shows text quickly (0 = as above)
    # Opt-in: at a place the draft's KV cache does not hold, the draft starts from this many lines (text within a
    # key or two); each later key's request, once its first text is out, inserts up to draft_grow_tokens of the
    # missing lines in front of the cached ones (and idle warm-ups the rest), until the window is
    # draft_prefix_lines (embedded model; 0 = the whole window at once). Off by default: the first keys at a new
    # place show text twice as often, but the text is right less often (README, "Beside llama.vim").
    draft_cold_lines: int = 0
    draft_grow_tokens: int = 16
    # The draft's prompt carries the place's pinned context too, inserted in front of its cached window a
    # draft_grow_tokens step at a time (after each key's first text, and at idle), never evaluated before the first
    # text at a new place (embedded model).
    draft_context: bool = False
    # Token healing (embedded model): the partial word at the cursor leaves the prompt and the output is made to
    # start with it, so the model finishes the word with its own tokens (README, "Token healing").
    token_healing: bool = True
    # The confidence cut (embedded model): a draft ends before the first token, after its first visible one, that
    # the model chose with a probability below this (0 = never; refinements are not cut; README, "confidenceCut").
    confidence_cut: float = 0.5
    context_budget_tokens: int = 600  # retrieved context budget in the prompt
    # --- streaming engine -------------------------------------------------------------------------
    strategy: str = "streaming"  # streaming | sequential (retrieve, then generate) | local (no retrieval)
    streaming: bool = False  # client opted in to srag/suggestion notifications
    max_refinements: int = 2
    retrieval_deadline_ms: int = 300
    retrieval_delay_ms: int = 0  # an artificial delay for benchmarks
    inline_wait_ms: int = 1500  # how long inlineCompletion waits for a useful first line
    model_wait_ms: int = 30000  # how long a request right after start-up waits for the model to load
    debounce_ms: int = 100  # the most an adaptive debounce may wait (0 = never wait)
    warmup: bool = True  # prefill the KV cache where the cursor lands, off the keystroke path
    # --- index --------------------------------------------------------------------------------------
    index_enabled: bool = True
    index_dir: str = ""  # "" = a per-workspace folder under the cache directory
    max_file_bytes: int = 1_000_000
    index_secrets: bool = False
    # off: no vectors (on 2 cores, embedding competes with completion); local: the ONNX model from PyPI;
    # ollama: /api/embed on ollama_host with embedding_model
    embeddings: str = "off"
    embedding_model: str = ""  # the Ollama embedding model ("" = nomic-embed-text)
    # A team's index on object storage (s3://BUCKET/PREFIX, built by `srag-index build --index-uri`): read there,
    # with only the files that differ indexed locally. Credentials come from the AWS variables, never a setting.
    shared_index: str = ""
    shared_index_options: dict[str, str] = field(default_factory=dict)  # LanceDB storage options (allow_http, ...)
    shared_index_copy_max_mb: int = 2048  # the shared table is copied here (fast retrieval) up to this size; 0: never
    # --- observability ------------------------------------------------------------------------------
    trace: bool = True
    cache_dir: str = field(default_factory=lambda: str(default_cache_dir()))
    model_dir: str = field(default_factory=lambda: str(default_model_dir()))

    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    def model_path(self) -> Path:
        return Path(self.model_dir).expanduser()


# Environment variables that map onto settings (besides SRAG_<FIELD> for every field).
_ENV_ALIASES = {"OLLAMA_HOST": "ollama_host", "SRAG_MODEL": "ollama_model"}

# The camelCase spelling editors use ("ollamaHost") is accepted as well as snake_case.
_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": BACKENDS,
    "strategy": STRATEGIES,
    "embeddings": EMBEDDINGS,
    "embedded_weights": EMBEDDED_WEIGHTS,
}


def _camel_to_snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def _normalize_host(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        value = "http://" + value
    host_part = value.split("://", 1)[1]
    if ":" not in host_part.split("/")[0]:
        value = value.rstrip("/") + ":11434"
    return value.rstrip("/")


def _normalize_url(value: str) -> str:
    value = value.strip()
    if value and not value.startswith(("http://", "https://")):
        value = "http://" + value
    return value.rstrip("/")


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REMOTE_CHECKED = {"ollama_host": "ollamaHost", "openai_base_url": "openaiBaseUrl", "llama_server_url": "llamaServerUrl"}


def _coerce(name: str, current: Any, raw: Any) -> Any:
    """Convert ``raw`` to the type of the current value, raising ValueError with a readable reason."""
    kind = type(current)
    if kind is dict:
        return _options(raw)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number, got {raw!r}")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
    if kind is float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    if name in _CHOICES and raw not in _CHOICES[name]:
        raise ValueError(f"expected one of {', '.join(_CHOICES[name])}, got {raw!r}")
    if name == "prompt_template" and raw not in TEMPLATES:
        raise ValueError(f"expected one of {', '.join(TEMPLATES)}, got {raw!r}")
    if name == "ollama_host":
        return _normalize_host(raw)
    if name in ("openai_base_url", "llama_server_url"):
        return _normalize_url(raw)
    if name == "shared_index" and raw.strip():
        from indexer.object_store import is_object_uri

        if not is_object_uri(raw.strip()):
            raise ValueError(f"expected an object storage URI such as s3://bucket/prefix, got {raw!r}")
        return raw.strip().rstrip("/")
    if name == "openai_api_key_env" and raw and not _ENV_NAME.match(raw):
        # never echo the value: it may be the key itself, pasted where its variable's name belongs
        raise ValueError("must be the name of an environment variable (such as OPENAI_API_KEY), not the key")
    return raw


def _options(raw: Any) -> dict[str, str]:
    """KEY=VALUE options: an object, or "k=v,k2=v2" (from the environment). Values are not echoed on error."""
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if any("=" not in item for item in items):
            raise ValueError("expected KEY=VALUE items separated by commas")
        raw = dict(item.split("=", 1) for item in items)
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected an object of KEY: VALUE, got {type(raw).__name__}")
    return {str(k).strip(): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in raw.items()}


def apply(settings: Settings, values: Mapping[str, Any], report: Callable[[str], None]) -> Settings:
    """Return a copy of ``settings`` with ``values`` applied; each invalid or unknown one is reported."""
    updated = dataclasses.replace(settings)
    known = {f.name for f in fields(Settings)}
    for raw_name, raw_value in values.items():
        name = _camel_to_snake(raw_name)
        if name not in known:
            report(f"srag-lsp: unknown setting {raw_name!r} ignored")
            continue
        current = getattr(updated, name)
        try:
            setattr(updated, name, _coerce(name, current, raw_value))
        except ValueError as exc:
            report(f"srag-lsp: invalid setting {raw_name}: {exc}; using {current!r}")
    if updated.max_tokens == 0:
        report("srag-lsp: invalid setting max_tokens: must be at least 1; using 64")
        updated.max_tokens = 64
    return updated


def from_environment(report: Callable[[str], None], environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults overlaid with ``SRAG_<FIELD>`` environment variables and ``OLLAMA_HOST``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = "SRAG_" + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    for key, name in _ENV_ALIASES.items():
        if env.get(key):
            values[name] = env[key]
    return apply(Settings(), values, report)


def from_client(options: Any, base: Settings, report: Callable[[str], None]) -> Settings:
    """Apply editor options: a dict, possibly nested under a "srag" key (as VS Code sends configuration)."""
    if options is None:
        return base
    if not isinstance(options, Mapping):
        report(f"srag-lsp: settings must be an object, got {type(options).__name__}; ignored")
        return base
    if "srag" in options and isinstance(options["srag"], Mapping):
        options = {**{k: v for k, v in options.items() if k != "srag"}, **options["srag"]}
    updated = apply(base, options, report)
    for name, spelled in REMOTE_CHECKED.items():
        url, before = getattr(updated, name), getattr(base, name)
        if url != before and url and not is_loopback_host(url) and not updated.allow_remote_model_host:
            report(f"srag-lsp: {spelled} {url} is another machine: your code would be sent there. "
                   f"Set allowRemoteModelHost (in your user settings) to allow it; using {before or 'none'}")
            setattr(updated, name, before)
    return updated


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(url: str) -> bool:
    """Whether an http(s) URL names this machine."""
    from urllib.parse import urlsplit

    return is_loopback(urlsplit(url).hostname or "")
