/*
 * config_keys: every config key llmgate knows, defined once. The loader uses
 * the table for dispatch, validation and did-you-mean; config_keys() exposes
 * it for the man page check. Internal to common/config*.c, but for
 * CONFIG_DEFAULT_CONTROL_SOCKET, which is also llmgatectl's default socket.
 *
 * CONFIG_SECTIONS(X): X(id, name) -- name as written in messages and docs.
 * CONFIG_KEYS(X): X(section id, key, type, default or NULL, description).
 * Rows of one section must be contiguous (the loader indexes a section's keys
 * from its first row; test_config checks this).
 *
 * Defaults: the text of a key's default is the one source of its value. The
 * loader reads an unset key as if its default were written, through the same
 * code as a written value (config.c, at_slot()), so the man page generated
 * from this table and the loaded config cannot disagree; test_config checks
 * that every default parses as its key. A default that is no fixed value
 * (another key's value, a generated id) is listed in
 * CONFIG_COMPUTED_DEFAULTS(X): X(section id, key, the code that computes
 * it); its text only documents it.
 *
 * Types: STRING, SECRET (never shown), URL, ADDRESS (HOST:PORT), BOOL, INT,
 * NUMBER, DURATION (500ms, 30s, 5m, 1h, bare seconds), LIST, MAPPING,
 * FALLBACKS, HEADERS; PARAM = an OpenAI request parameter kept as a request
 * default; ADVISORY = accepted, ignored with a note (the description); IGNORED
 * = a LiteLLM key llmgate does not implement (warned as such).
 */
#pragma once

#define CONFIG_SECTIONS(X)                      \
	X(top, "")                              \
	X(entry, "model_list[]")                \
	X(litellm_params, "litellm_params")     \
	X(model_info, "model_info")             \
	X(litellm_settings, "litellm_settings") \
	X(router_settings, "router_settings")   \
	X(general_settings, "general_settings") \
	X(llmgate, "llmgate")                   \
	X(fallback, "llmgate.fallback")         \
	X(otel, "llmgate.otel")                 \
	X(tls, "llmgate.tls")

#define CONFIG_IGNORED_DESC           "a LiteLLM setting llmgate does not implement"
#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/llmgate/control.sock"

#define CONFIG_KEYS(X)                                                                                     \
	X(top, model_list, LIST, "[]", "the deployments, one entry per upstream endpoint")                 \
	X(top, litellm_settings, MAPPING, NULL, "LiteLLM module settings")                                 \
	X(top, router_settings, MAPPING, NULL, "routing: retries, deadline, fallbacks")                    \
	X(top, general_settings, MAPPING, NULL, "client authentication and request limits")                \
	X(top, environment_variables, MAPPING, NULL,                                                       \
	  "variables exported with setenv() before references are resolved")                               \
	X(top, include, LIST, NULL,                                                                        \
	  "files (relative to this one) whose model_list entries are appended")                            \
	X(top, llmgate, MAPPING, NULL, "llmgate's own settings (LiteLLM ignores this section)")            \
	X(top, callback_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(top, credential_list, IGNORED, NULL, CONFIG_IGNORED_DESC)                                        \
	X(top, guardrails, IGNORED, NULL, CONFIG_IGNORED_DESC)                                             \
	X(top, files_settings, ADVISORY, NULL,                                                             \
	  "LiteLLM's own files-API credentials; llmgate relays /v1/files to llmgate.files_deployment")     \
	X(top, assistant_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                                     \
	X(top, finetune_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(top, mcp_servers, IGNORED, NULL, CONFIG_IGNORED_DESC)                                            \
	X(top, vector_store_registry, IGNORED, NULL, CONFIG_IGNORED_DESC)                                  \
	X(top, search_tools, IGNORED, NULL, CONFIG_IGNORED_DESC)                                           \
	X(top, pass_through_endpoints, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
                                                                                                           \
	X(entry, model_name, STRING, NULL,                                                                 \
	  "the name clients ask for; entries sharing it form a group")                                     \
	X(entry, litellm_params, MAPPING, NULL, "how to reach the upstream")                               \
	X(entry, model_info, MAPPING, NULL, "metadata: id and mode")                                       \
                                                                                                           \
	X(litellm_params, model, STRING, NULL,                                                             \
	  "provider/model: azure/<deployment>, openai/<model>, or <model> (openai)")                       \
	X(litellm_params, api_base, URL, "the provider's (see PROVIDERS)",                                 \
	  "upstream base URL; azure: the resource endpoint")                                               \
	X(litellm_params, api_key, SECRET, NULL, "upstream key (api-key or Bearer)")                       \
	X(litellm_params, api_version, STRING, NULL, "azure: the api-version query parameter")             \
	X(litellm_params, deployment_id, STRING, NULL,                                                     \
	  "azure: the deployment, overriding the one in model")                                            \
	X(litellm_params, azure_ad_token, SECRET, NULL, "azure: Entra ID token sent as Bearer")            \
	X(litellm_params, tenant_id, STRING, NULL, "azure: Entra ID tenant of the credential")             \
	X(litellm_params, client_id, STRING, NULL,                                                         \
	  "azure: Entra ID application, or a user-assigned managed identity")                              \
	X(litellm_params, client_secret, SECRET, NULL, "azure: the application's client secret")           \
	X(litellm_params, azure_scope, STRING, NULL,                                                       \
	  "azure: scope of the Entra ID token (https://cognitiveservices.azure.com/.default)")             \
	X(litellm_params, azure_credential, STRING, NULL,                                                  \
	  "azure: client_secret, workload_identity, managed_identity or default (llmgate)")                \
	X(litellm_params, timeout, DURATION, "request_timeout", "whole non-streamed request")              \
	X(litellm_params, stream_timeout, DURATION, "timeout",                                             \
	  "time to the first byte of a stream")                                                            \
	X(litellm_params, max_retries, INT, "num_retries", "retries of this deployment")                   \
	X(litellm_params, rpm, INT, NULL, "requests per minute, weights round-robin")                      \
	X(litellm_params, order, INT, NULL,                                                                \
	  "priority in the group: lower first; the next order only once a request has tried every "        \
	  "deployment of the lower one; unset: after every ordered one")                                   \
	X(litellm_params, tpm, INT, NULL, "tokens per minute, weights round-robin")                        \
	X(litellm_params, organization, STRING, NULL, "openai: OpenAI-Organization header")                \
	X(litellm_params, extra_headers, HEADERS, NULL, "headers added to upstream requests")              \
	X(litellm_params, drop_params, BOOL, "litellm_settings.drop_params",                               \
	  "drop request parameters the upstream does not accept")                                          \
	X(litellm_params, custom_llm_provider, STRING, NULL, "provider when model has no prefix")          \
	X(litellm_params, additional_drop_params, LIST, NULL,                                              \
	  "request parameters removed before a request goes upstream (drop_params as a list too)")         \
	X(litellm_params, temperature, PARAM, NULL, "request default")                                     \
	X(litellm_params, top_p, PARAM, NULL, "request default")                                           \
	X(litellm_params, top_k, PARAM, NULL, "request default (OpenAI-compatible servers)")               \
	X(litellm_params, min_p, PARAM, NULL, "request default (OpenAI-compatible servers)")               \
	X(litellm_params, repetition_penalty, PARAM, NULL,                                                 \
	  "request default (OpenAI-compatible servers)")                                                   \
	X(litellm_params, max_tokens, PARAM, NULL, "request default")                                      \
	X(litellm_params, max_completion_tokens, PARAM, NULL, "request default")                           \
	X(litellm_params, n, PARAM, NULL, "request default")                                               \
	X(litellm_params, stop, PARAM, NULL, "request default")                                            \
	X(litellm_params, presence_penalty, PARAM, NULL, "request default")                                \
	X(litellm_params, frequency_penalty, PARAM, NULL, "request default")                               \
	X(litellm_params, logit_bias, PARAM, NULL, "request default")                                      \
	X(litellm_params, logprobs, PARAM, NULL, "request default")                                        \
	X(litellm_params, top_logprobs, PARAM, NULL, "request default")                                    \
	X(litellm_params, seed, PARAM, NULL, "request default")                                            \
	X(litellm_params, response_format, PARAM, NULL, "request default")                                 \
	X(litellm_params, tools, PARAM, NULL, "request default")                                           \
	X(litellm_params, tool_choice, PARAM, NULL, "request default")                                     \
	X(litellm_params, parallel_tool_calls, PARAM, NULL, "request default")                             \
	X(litellm_params, user, PARAM, NULL, "request default")                                            \
	X(litellm_params, stream_options, PARAM, NULL, "request default")                                  \
	X(litellm_params, reasoning_effort, PARAM, NULL, "request default")                                \
	X(litellm_params, modalities, PARAM, NULL, "request default")                                      \
	X(litellm_params, audio, PARAM, NULL, "request default")                                           \
	X(litellm_params, prediction, PARAM, NULL, "request default")                                      \
	X(litellm_params, service_tier, PARAM, NULL, "request default")                                    \
	X(litellm_params, store, PARAM, NULL, "request default")                                           \
	X(litellm_params, dimensions, PARAM, NULL, "request default")                                      \
	X(litellm_params, encoding_format, PARAM, NULL, "request default")                                 \
	X(litellm_params, functions, PARAM, NULL, "request default")                                       \
	X(litellm_params, function_call, PARAM, NULL, "request default")                                   \
	X(litellm_params, suffix, PARAM, NULL, "request default")                                          \
	X(litellm_params, echo, PARAM, NULL, "request default")                                            \
	X(litellm_params, best_of, PARAM, NULL, "request default")                                         \
	X(litellm_params, web_search_options, PARAM, NULL, "request default")                              \
	X(litellm_params, num_retries, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(litellm_params, weight, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(litellm_params, tags, IGNORED, NULL, CONFIG_IGNORED_DESC)                                        \
	X(litellm_params, metadata, IGNORED, NULL, CONFIG_IGNORED_DESC)                                    \
	X(litellm_params, mock_response, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(litellm_params, base_model, IGNORED, NULL, CONFIG_IGNORED_DESC)                                  \
	X(litellm_params, input_cost_per_token, NUMBER, NULL,                                              \
	  "price of a prompt token (llmgated(8) USAGE AND COST)")                                          \
	X(litellm_params, cache_read_input_token_cost, NUMBER, NULL,                                       \
	  "price of a cached prompt token")                                                                \
	X(litellm_params, output_cost_per_token, NUMBER, NULL, "price of a completion token")              \
	X(litellm_params, output_cost_per_reasoning_token, NUMBER, NULL,                                   \
	  "price of a reasoning token")                                                                    \
	X(litellm_params, input_cost_per_second, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(litellm_params, output_cost_per_second, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(litellm_params, max_budget, IGNORED, NULL, CONFIG_IGNORED_DESC)                                  \
	X(litellm_params, budget_duration, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(litellm_params, litellm_credential_name, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(litellm_params, use_in_pass_through, IGNORED, NULL, CONFIG_IGNORED_DESC)                         \
	X(litellm_params, use_litellm_proxy, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(litellm_params, merge_reasoning_content_in_choices, IGNORED, NULL, CONFIG_IGNORED_DESC)          \
	X(litellm_params, azure_username, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(litellm_params, azure_password, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(litellm_params, region_name, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(litellm_params, aws_access_key_id, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(litellm_params, aws_secret_access_key, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(litellm_params, aws_region_name, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(litellm_params, vertex_project, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(litellm_params, vertex_location, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(litellm_params, vertex_credentials, IGNORED, NULL, CONFIG_IGNORED_DESC)                          \
                                                                                                           \
	X(model_info, id, STRING, "<model_name>#<n>", "stable deployment id (unique)")                     \
	X(model_info, mode, STRING, NULL, "chat, completion, embedding or responses")                      \
	X(model_info, base_model, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(model_info, description, IGNORED, NULL, CONFIG_IGNORED_DESC)                                     \
	X(model_info, access_groups, IGNORED, NULL, CONFIG_IGNORED_DESC)                                   \
	X(model_info, tier, IGNORED, NULL, CONFIG_IGNORED_DESC)                                            \
	X(model_info, team_id, IGNORED, NULL, CONFIG_IGNORED_DESC)                                         \
	X(model_info, db_model, IGNORED, NULL, CONFIG_IGNORED_DESC)                                        \
	X(model_info, max_tokens, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(model_info, max_input_tokens, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(model_info, max_output_tokens, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(model_info, input_cost_per_token, NUMBER, NULL,                                                  \
	  "price of a prompt token (llmgated(8) USAGE AND COST)")                                          \
	X(model_info, cache_read_input_token_cost, NUMBER, NULL, "price of a cached prompt token")         \
	X(model_info, output_cost_per_token, NUMBER, NULL, "price of a completion token")                  \
	X(model_info, output_cost_per_reasoning_token, NUMBER, NULL, "price of a reasoning token")         \
	X(model_info, supports_function_calling, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(model_info, supports_parallel_function_calling, IGNORED, NULL, CONFIG_IGNORED_DESC)              \
	X(model_info, supports_vision, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(model_info, supports_tool_choice, IGNORED, NULL, CONFIG_IGNORED_DESC)                            \
	X(model_info, supports_response_schema, IGNORED, NULL, CONFIG_IGNORED_DESC)                        \
	X(model_info, supports_reasoning, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(model_info, health_check_timeout, IGNORED, NULL, CONFIG_IGNORED_DESC)                            \
                                                                                                           \
	X(litellm_settings, drop_params, BOOL, "false",                                                    \
	  "drop request parameters the upstream does not accept")                                          \
	X(litellm_settings, num_retries, INT, "2", "retries per request (router_settings wins)")           \
	X(litellm_settings, request_timeout, DURATION, "600s", "default per-attempt timeout")              \
	X(litellm_settings, fallbacks, FALLBACKS, NULL,                                                    \
	  "[{group: [fallback groups]}] (router_settings wins)")                                           \
	X(litellm_settings, set_verbose, BOOL, "false", "verbose logging")                                 \
	X(litellm_settings, enable_azure_ad_token_refresh, BOOL, "false",                                  \
	  "azure deployments without a key get Entra ID tokens as DefaultAzureCredential finds them")      \
	X(litellm_settings, success_callback, LIST, NULL,                                                  \
	  "'otel' turns on OpenTelemetry traces (llmgate.otel); other callbacks are ignored")              \
	X(litellm_settings, failure_callback, LIST, NULL,                                                  \
	  "'otel' turns on OpenTelemetry traces (llmgate.otel); other callbacks are ignored")              \
	X(litellm_settings, callbacks, LIST, NULL,                                                         \
	  "'otel' turns on OpenTelemetry traces to OTEL_EXPORTER_OTLP_ENDPOINT (llmgate.otel); "           \
	  "other callbacks are ignored")                                                                   \
	X(litellm_settings, service_callback, IGNORED, NULL, CONFIG_IGNORED_DESC)                          \
	X(litellm_settings, service_callbacks, IGNORED, NULL, CONFIG_IGNORED_DESC)                         \
	X(litellm_settings, cache, IGNORED, NULL, CONFIG_IGNORED_DESC)                                     \
	X(litellm_settings, cache_params, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(litellm_settings, telemetry, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(litellm_settings, json_logs, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(litellm_settings, turn_off_message_logging, IGNORED, NULL, CONFIG_IGNORED_DESC)                  \
	X(litellm_settings, redact_user_api_key_info, IGNORED, NULL, CONFIG_IGNORED_DESC)                  \
	X(litellm_settings, langfuse_default_tags, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(litellm_settings, force_ipv4, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(litellm_settings, ssl_verify, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(litellm_settings, context_window_fallbacks, FALLBACKS, NULL,                                     \
	  "[{group: [groups]}] taken on context_length_exceeded, before the first byte")                   \
	X(litellm_settings, content_policy_fallbacks, FALLBACKS, NULL,                                     \
	  "[{group: [groups]}] taken on a content filter refusal, before the first byte")                  \
	X(litellm_settings, default_fallbacks, LIST, NULL,                                                 \
	  "model_name groups for every group without fallbacks of its own")                                \
	X(litellm_settings, max_budget, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(litellm_settings, budget_duration, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(litellm_settings, max_internal_user_budget, IGNORED, NULL, CONFIG_IGNORED_DESC)                  \
	X(litellm_settings, internal_user_budget_duration, IGNORED, NULL, CONFIG_IGNORED_DESC)             \
	X(litellm_settings, default_team_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(litellm_settings, default_internal_user_params, IGNORED, NULL, CONFIG_IGNORED_DESC)              \
	X(litellm_settings, upperbound_key_generate_params, IGNORED, NULL, CONFIG_IGNORED_DESC)            \
	X(litellm_settings, key_generation_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(litellm_settings, modify_params, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(litellm_settings, enable_preview_features, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(litellm_settings, return_response_headers, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(litellm_settings, disable_end_user_cost_tracking, IGNORED, NULL, CONFIG_IGNORED_DESC)            \
	X(litellm_settings, enable_json_schema_validation, IGNORED, NULL, CONFIG_IGNORED_DESC)             \
	X(litellm_settings, guardrails, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(litellm_settings, model_group_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(litellm_settings, post_call_rules, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(litellm_settings, custom_provider_map, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(litellm_settings, global_prompt_directory, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(litellm_settings, callback_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                         \
	X(litellm_settings, responses, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
                                                                                                           \
	X(router_settings, num_retries, INT, "litellm_settings.num_retries",                               \
	  "retries per request, across deployments")                                                       \
	X(router_settings, timeout, DURATION, "600s",                                                      \
	  "deadline per client request across retries and fallbacks")                                      \
	X(router_settings, fallbacks, FALLBACKS, NULL, "[{group: [fallback groups]}]")                     \
	X(router_settings, allowed_fails, ADVISORY, NULL,                                                  \
	  "accepted for LiteLLM compatibility; llmgate's own failure policy is under llmgate.fallback")    \
	X(router_settings, cooldown_time, ADVISORY, NULL,                                                  \
	  "accepted for LiteLLM compatibility; llmgate's own cooldown is llmgate.fallback.cooldown")       \
	X(router_settings, routing_strategy, STRING, NULL,                                                 \
	  "usage-based-routing-v2: ceilings, as enable_pre_call_checks; any other strategy is "            \
	  "accepted for LiteLLM compatibility; llmgate spreads requests round-robin weighted by rpm/tpm, " \
	  "and its own failure policy is under llmgate.fallback")                                          \
	X(router_settings, routing_strategy_args, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(router_settings, redis_host, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(router_settings, redis_port, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
	X(router_settings, redis_password, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(router_settings, redis_url, IGNORED, NULL, CONFIG_IGNORED_DESC)                                  \
	X(router_settings, enable_pre_call_checks, BOOL, "false",                                          \
	  "true: the rpm and tpm of deployments are ceilings for the whole instance; a deployment at "     \
	  "its ceiling is skipped this minute")                                                            \
	X(router_settings, optional_pre_call_checks, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(router_settings, model_group_alias, MAPPING, NULL,                                               \
	  "alias: model_name, or alias: {model: model_name, hidden: true}; requests for the alias go "     \
	  "to that group")                                                                                 \
	X(router_settings, retry_policy, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(router_settings, model_group_retry_policy, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(router_settings, allowed_fails_policy, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(router_settings, context_window_fallbacks, FALLBACKS, NULL,                                      \
	  "[{group: [groups]}] taken on context_length_exceeded, before the first byte")                   \
	X(router_settings, content_policy_fallbacks, FALLBACKS, NULL,                                      \
	  "[{group: [groups]}] taken on a content filter refusal, before the first byte")                  \
	X(router_settings, default_fallbacks, LIST, NULL,                                                  \
	  "model_name groups for every group without fallbacks of its own")                                \
	X(router_settings, max_fallbacks, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(router_settings, retry_after, IGNORED, NULL, CONFIG_IGNORED_DESC)                                \
	X(router_settings, disable_cooldowns, IGNORED, NULL, CONFIG_IGNORED_DESC)                          \
	X(router_settings, provider_budget_config, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(router_settings, enable_tag_filtering, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(router_settings, cache_responses, IGNORED, NULL, CONFIG_IGNORED_DESC)                            \
	X(router_settings, default_litellm_params, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(router_settings, default_max_parallel_requests, IGNORED, NULL, CONFIG_IGNORED_DESC)              \
	X(router_settings, polling_interval, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(router_settings, client_ttl, IGNORED, NULL, CONFIG_IGNORED_DESC)                                 \
                                                                                                           \
	X(general_settings, master_key, SECRET, NULL,                                                      \
	  "client key (Bearer, api-key or x-api-key); unset = no client auth")                             \
	X(general_settings, max_request_size_mb, NUMBER, "10", "largest request body, in MiB")             \
	X(general_settings, database_url, IGNORED, NULL, CONFIG_IGNORED_DESC)                              \
	X(general_settings, database_connection_pool_limit, IGNORED, NULL, CONFIG_IGNORED_DESC)            \
	X(general_settings, database_connection_timeout, IGNORED, NULL, CONFIG_IGNORED_DESC)               \
	X(general_settings, store_model_in_db, IGNORED, NULL, CONFIG_IGNORED_DESC)                         \
	X(general_settings, store_prompts_in_spend_logs, IGNORED, NULL, CONFIG_IGNORED_DESC)               \
	X(general_settings, disable_spend_logs, IGNORED, NULL, CONFIG_IGNORED_DESC)                        \
	X(general_settings, proxy_batch_write_at, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(general_settings, alerting, IGNORED, NULL, CONFIG_IGNORED_DESC)                                  \
	X(general_settings, alerting_threshold, IGNORED, NULL, CONFIG_IGNORED_DESC)                        \
	X(general_settings, alert_types, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(general_settings, alert_to_webhook_url, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(general_settings, custom_auth, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(general_settings, custom_key_generate, IGNORED, NULL, CONFIG_IGNORED_DESC)                       \
	X(general_settings, allowed_routes, IGNORED, NULL, CONFIG_IGNORED_DESC)                            \
	X(general_settings, public_routes, IGNORED, NULL, CONFIG_IGNORED_DESC)                             \
	X(general_settings, admin_only_routes, IGNORED, NULL, CONFIG_IGNORED_DESC)                         \
	X(general_settings, allowed_ips, IGNORED, NULL, CONFIG_IGNORED_DESC)                               \
	X(general_settings, enforce_user_param, IGNORED, NULL, CONFIG_IGNORED_DESC)                        \
	X(general_settings, enforced_params, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(general_settings, ui_access_mode, IGNORED, NULL, CONFIG_IGNORED_DESC)                            \
	X(general_settings, max_parallel_requests, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(general_settings, global_max_parallel_requests, IGNORED, NULL, CONFIG_IGNORED_DESC)              \
	X(general_settings, max_response_size_mb, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(general_settings, infer_model_from_keys, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(general_settings, background_health_checks, IGNORED, NULL, CONFIG_IGNORED_DESC)                  \
	X(general_settings, health_check_interval, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(general_settings, health_check_details, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(general_settings, allow_requests_on_db_unavailable, IGNORED, NULL, CONFIG_IGNORED_DESC)          \
	X(general_settings, disable_master_key_return, IGNORED, NULL, CONFIG_IGNORED_DESC)                 \
	X(general_settings, disable_reset_budget, IGNORED, NULL, CONFIG_IGNORED_DESC)                      \
	X(general_settings, enable_jwt_auth, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(general_settings, litellm_jwtauth, IGNORED, NULL, CONFIG_IGNORED_DESC)                           \
	X(general_settings, litellm_key_header_name, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(general_settings, user_header_name, IGNORED, NULL, CONFIG_IGNORED_DESC)                          \
	X(general_settings, forward_client_headers_to_llm_api, IGNORED, NULL, CONFIG_IGNORED_DESC)         \
	X(general_settings, key_management_system, IGNORED, NULL, CONFIG_IGNORED_DESC)                     \
	X(general_settings, key_management_settings, IGNORED, NULL, CONFIG_IGNORED_DESC)                   \
	X(general_settings, pass_through_endpoints, LIST, NULL,                                            \
	  "{path, target, headers, forward_headers, auth, include_subpath}: relayed as is")                \
	X(general_settings, otel, IGNORED, NULL, CONFIG_IGNORED_DESC)                                      \
	X(general_settings, use_redis_transaction_buffer, IGNORED, NULL, CONFIG_IGNORED_DESC)              \
	X(general_settings, maximum_spend_logs_retention_period, IGNORED, NULL,                            \
	  CONFIG_IGNORED_DESC)                                                                             \
                                                                                                           \
	X(llmgate, listen, ADDRESS, "127.0.0.1:4000", "client-facing HOST:PORT ([IPv6]:PORT)")             \
	X(llmgate, workers, INT, "0", "worker processes; 0 or auto = one per CPU")                         \
	X(llmgate, cpu_scheduling_policy, STRING, "batch",                                                 \
	  "the workers' Linux scheduling policy: batch (SCHED_OTHER becomes SCHED_BATCH: a woken worker "  \
	  "does not preempt the task running on its CPU) or inherit (the policy llmgated was started "     \
	  "with)")                                                                                         \
	X(llmgate, control_socket, STRING, CONFIG_DEFAULT_CONTROL_SOCKET, "control socket path")           \
	X(llmgate, admin_listen, ADDRESS, NULL, "HOST:PORT serving /metrics; unset = off")                 \
	X(llmgate, user, STRING, "llmgate", "user to run as after binding (when started as root)")         \
	X(llmgate, drain_timeout, DURATION, "30s",                                                         \
	  "how long old workers may finish in-flight requests")                                            \
	X(llmgate, access_log, STRING, NULL, "off (unset), stderr, or a file path")                        \
	X(llmgate, core_dumps, BOOL, "false",                                                              \
	  "allow core dumps (they may hold API keys); off: processes are not dumpable")                    \
	X(llmgate, header_timeout, DURATION, "5s",                                                         \
	  "a client's whole request head, from its first byte")                                            \
	X(llmgate, body_timeout, DURATION, "30s", "a client's whole request body, after its head")         \
	X(llmgate, idle_timeout, DURATION, "60s",                                                          \
	  "how long a keep-alive client connection may wait for its next request")                         \
	X(llmgate, ca_file, STRING, NULL,                                                                  \
	  "CA certificates (PEM, absolute path) upstream TLS trusts besides the system's")                 \
	X(llmgate, upstream_http2, BOOL, "true",                                                           \
	  "offer HTTP/2 to TLS upstreams (the own HTTP/2 client carries those that take it); "             \
	  "false: HTTP/1.1")                                                                               \
	X(llmgate, response_affinity_entries, INT, "65536",                                                \
	  "Responses API ids remembered with the deployment that created them, shared by all workers "     \
	  "(about 300 bytes each); 0 = off; a restart to change")                                          \
	X(llmgate, keys_file, STRING, NULL,                                                                \
	  "client keys with model access, limits and budgets (a YAML file; relative to the config)")       \
	X(llmgate, state_dir, STRING, "/var/lib/llmgate",                                                  \
	  "where the supervisor keeps the client keys' spend (client-keys.json); a restart to change")     \
	X(llmgate, fallback, MAPPING, NULL, "the global direct-Azure fallback policy")                     \
	X(llmgate, files_deployment, STRING, NULL,                                                         \
	  "model_info.id (or single-deployment model_name) serving /v1/files, batches...")                 \
	X(llmgate, passthrough_max_request_size_mb, NUMBER, "64",                                          \
	  "largest request body of a pass-through path (files API uploads), in MiB")                       \
	X(llmgate, usage, BOOL, "true",                                                                    \
	  "count the token usage answers report (metrics, access log, cost)")                              \
	X(llmgate, stream_usage, STRING, "off",                                                            \
	  "inject: ask chat streams for their usage, strip it for clients that did not")                   \
	X(llmgate, tls, MAPPING, NULL, "TLS for clients on llmgate.listen; unset = plain HTTP")            \
	X(llmgate, strict, BOOL, "false",                                                                  \
	  "entries llmgate cannot serve, and fallbacks to them, are errors instead of warnings")           \
	X(llmgate, max_upload_size_mb, NUMBER, "25",                                                       \
	  "largest upload body (audio transcriptions and translations, image edits), in MiB")              \
	X(llmgate, moderation_model, STRING, NULL,                                                         \
	  "the group /v1/moderations uses when the request names no model; unset = such a request is 400") \
	X(llmgate, otel, MAPPING, NULL, "OpenTelemetry traces (OTLP/HTTP); written: on")                   \
                                                                                                           \
	X(fallback, mode, STRING, "auto", "auto, on (forced) or off (never)")                              \
	X(fallback, window, DURATION, "10s", "sliding window of the failure ratio")                        \
	X(fallback, min_requests, INT, "10", "requests in the window before the ratio counts")             \
	X(fallback, failure_ratio, NUMBER, "0.5", "failure ratio that trips the fallback (0-1]")           \
	X(fallback, consecutive_failures, INT, "5", "failures in a row that trip the fallback")            \
	X(fallback, cooldown, DURATION, "30s", "time in fallback before probing the primary")              \
	X(fallback, probe_interval, DURATION, "5s", "one probe request per interval")                      \
	X(fallback, recover_successes, INT, "3", "probe successes in a row that end the fallback")         \
	X(fallback, report_interval, DURATION, "250ms", "how often workers report counters")               \
                                                                                                           \
	X(otel, endpoint, URL, "OTEL_EXPORTER_OTLP_ENDPOINT",                                              \
	  "the collector's OTLP/HTTP base URL; /v1/traces is appended unless the path ends so")            \
	X(otel, headers, HEADERS, "OTEL_EXPORTER_OTLP_HEADERS",                                            \
	  "headers of every export request (secrets: never shown)")                                        \
	X(otel, service_name, STRING, "OTEL_SERVICE_NAME", "the resource's service.name")                  \
	X(otel, protocol, STRING, "http/protobuf",                                                         \
	  "http/protobuf or http/json (OTEL_EXPORTER_OTLP_PROTOCOL when unset); grpc is refused")          \
	X(otel, sample_ratio, NUMBER, "1",                                                                 \
	  "share of new traces recorded, 0 to 1; a client's traceparent decides for its trace")            \
	X(otel, queue_size, INT, "2048",                                                                   \
	  "finished spans waiting for export per worker; more are dropped")                                \
	X(otel, batch_size, INT, "512", "spans per export request; a full batch is sent at once")          \
	X(otel, flush_interval, DURATION, "1s", "the longest a span waits for its batch")                  \
	X(otel, export_timeout, DURATION, "10s",                                                           \
	  "one export request; a failed one's spans are dropped")                                          \
                                                                                                           \
	X(tls, cert_file, STRING, NULL, "PEM certificate chain, leaf first (absolute path)")               \
	X(tls, key_file, STRING, NULL, "PEM private key of the certificate (absolute path)")               \
	X(tls, client_ca_file, STRING, NULL,                                                               \
	  "PEM CAs of client certificates; set = mTLS, a verified client certificate is required")         \
	X(tls, min_protocol, STRING, "TLSv1.2", "oldest protocol accepted: TLSv1.2 or TLSv1.3")            \
	X(tls, ciphers, STRING,                                                                            \
	  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                     \
	  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                     \
	  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",                                     \
	  "TLS 1.2 cipher list (OpenSSL syntax); the default: forward-secret AEAD suites only")            \
	X(tls, ciphersuites, STRING,                                                                       \
	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",                    \
	  "TLS 1.3 cipher suites (OpenSSL syntax)")

#define CONFIG_COMPUTED_DEFAULTS(X)                                                                \
	X(top, model_list, "config_load(): a missing model_list is reported as no models")         \
	X(litellm_params, api_base,                                                                \
	  "resolve_implicit() in config.c: the provider's variable, else its default base")        \
	X(litellm_params, timeout,                                                                 \
	  "start_attempt() in worker/proxy_attempt.c: timeout_ms 0 = request_timeout")             \
	X(litellm_params, stream_timeout,                                                          \
	  "start_attempt() in worker/proxy_attempt.c: 0 = the attempt's timeout")                  \
	X(litellm_params, max_retries, "worker/proxy_plan.c: max_retries -1 = config.num_retries") \
	X(litellm_params, drop_params, "struct deployment: drop_params -1 = unset")                \
	X(model_info, id, "build_groups() in config.c")                                            \
	X(router_settings, num_retries,                                                            \
	  "load_settings() in config.c: router_settings wins when set")                            \
	X(otel, endpoint, "config_otel_resolve() in config_otel.c: the OTEL_* variables")          \
	X(otel, headers, "config_otel_resolve() in config_otel.c: merged with OTEL_* variables")   \
	X(otel, service_name, "config_otel_resolve() in config_otel.c: OTEL_SERVICE_NAME")         \
	X(otel, protocol,                                                                          \
	  "config_otel_resolve() in config_otel.c: OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL")
