"""Settings: defaults, environment, editor options; invalid values are reported and replaced by defaults."""

from __future__ import annotations

from srag_lsp.settings import Settings, apply, from_client, from_environment


def test_environment_overrides_defaults() -> None:
    problems: list[str] = []
    s = from_environment(problems.append, {"OLLAMA_HOST": "10.0.0.5", "SRAG_MAX_TOKENS": "12",
                                           "SRAG_STREAMING": "yes", "SRAG_BACKEND": "embedded"})
    assert problems == []
    assert s.ollama_host == "http://10.0.0.5:11434"
    assert s.max_tokens == 12 and s.streaming is True and s.backend == "embedded"


def test_client_options_camel_case_and_nested_section() -> None:
    problems: list[str] = []
    s = from_client({"srag": {"maxTokens": 7, "ollamaHost": "http://localhost:1"}, "streaming": True}, Settings(),
                    problems.append)
    assert problems == []
    assert s.max_tokens == 7 and s.ollama_host == "http://localhost:1" and s.streaming is True


def test_invalid_values_are_reported_and_previous_value_kept() -> None:
    problems: list[str] = []
    base = Settings()
    s = apply(base, {"maxTokens": "many", "strategy": "psychic", "temperature": -1, "bogus": 3,
                     "streaming": "perhaps"}, problems.append)
    assert s.max_tokens == base.max_tokens and s.strategy == "streaming"
    assert s.temperature == base.temperature and s.streaming is False
    joined = "\n".join(problems)
    for name in ("maxTokens", "strategy", "temperature", "bogus", "streaming"):
        assert name in joined
    assert len(problems) == 5


def test_non_object_options_are_reported() -> None:
    problems: list[str] = []
    s = from_client(["not", "a", "dict"], Settings(), problems.append)
    assert s == Settings(cache_dir=s.cache_dir) and problems and "object" in problems[0]


def test_zero_max_tokens_is_rejected() -> None:
    problems: list[str] = []
    s = apply(Settings(), {"max_tokens": 0}, problems.append)
    assert s.max_tokens == 64 and problems


def test_embeddings_are_off_by_default_and_validated() -> None:
    problems: list[str] = []
    assert Settings().embeddings == "off"
    s = from_environment(problems.append, {"SRAG_EMBEDDINGS": "ollama", "SRAG_EMBEDDING_MODEL": "all-minilm"})
    assert problems == [] and s.embeddings == "ollama" and s.embedding_model == "all-minilm"
    s = apply(s, {"embeddings": "sometimes"}, problems.append)
    assert s.embeddings == "ollama" and problems == [
        "srag-lsp: invalid setting embeddings: expected one of off, local, ollama, got 'sometimes'; using 'ollama'"
    ]


def test_editor_options_cannot_point_the_model_host_at_another_machine_unless_allowed() -> None:
    problems: list[str] = []
    base = from_environment(problems.append, {})
    kept = from_client({"srag": {"ollamaHost": "http://203.0.113.9:11434"}}, base, problems.append)
    assert kept.ollama_host == base.ollama_host
    assert len(problems) == 1 and "allowRemoteModelHost" in problems[0]
    local = from_client({"ollamaHost": "localhost:11500"}, base, problems.append)
    assert local.ollama_host == "http://localhost:11500" and len(problems) == 1  # this machine: fine
    allowed = from_client({"ollamaHost": "http://gpu-box:11434", "allowRemoteModelHost": True}, base, problems.append)
    assert allowed.ollama_host == "http://gpu-box:11434" and len(problems) == 1
    # The user's own environment may name another machine.
    assert from_environment(problems.append, {"OLLAMA_HOST": "gpu-box"}).ollama_host == "http://gpu-box:11434"


def test_a_team_servers_address_follows_the_same_rule_and_the_key_setting_holds_only_a_name() -> None:
    problems: list[str] = []
    base = from_environment(problems.append, {})
    assert base.llama_server_url == "http://127.0.0.1:8080" and base.openai_base_url == ""
    kept = from_client({"openaiBaseUrl": "http://gpu-box:8000/v1/", "llamaServerUrl": "203.0.113.9:8080"}, base,
                       problems.append)
    assert kept.openai_base_url == "" and kept.llama_server_url == base.llama_server_url
    assert len(problems) == 2 and all("allowRemoteModelHost" in p for p in problems)
    allowed = from_client({"openaiBaseUrl": "http://gpu-box:8000/v1/", "allowRemoteModelHost": True,
                           "backend": "openai"}, base, problems.append)
    assert allowed.openai_base_url == "http://gpu-box:8000/v1" and allowed.backend == "openai" and len(problems) == 2
    local = from_client({"llamaServerUrl": "localhost:8012", "backend": "llama-server"}, base, problems.append)
    assert local.llama_server_url == "http://localhost:8012" and len(problems) == 2
    # The key setting names a variable; a value that looks like a key is refused without being echoed.
    named = from_client({"openaiApiKeyEnv": "TEAM_KEY"}, base, problems.append)
    assert named.openai_api_key_env == "TEAM_KEY"
    refused = from_client({"openaiApiKeyEnv": "sk-abc123/secret"}, base, problems.append)
    assert refused.openai_api_key_env == "" and "name of an environment variable" in problems[-1]
    assert "sk-abc123" not in problems[-1]


def test_a_shared_index_is_an_object_storage_uri_with_options_and_never_credentials() -> None:
    problems: list[str] = []
    base = from_environment(problems.append, {"SRAG_SHARED_INDEX": "s3://team-index/main/",
                                              "SRAG_SHARED_INDEX_OPTIONS": "allow_http=true, region=eu-west-1"})
    assert base.shared_index == "s3://team-index/main" and not problems
    assert base.shared_index_options == {"allow_http": "true", "region": "eu-west-1"}
    editor = from_client({"sharedIndexOptions": {"allow_http": True}}, base, problems.append)
    assert editor.shared_index_options == {"allow_http": "true"} and not problems
    wrong = from_client({"sharedIndex": "/home/me/index"}, base, problems.append)
    assert wrong.shared_index == base.shared_index and "object storage URI" in problems[-1]
    from_client({"sharedIndexOptions": ["allow_http"]}, base, problems.append)
    assert "KEY: VALUE" in problems[-1]
