/*
 * providers: the one table of the LiteLLM provider prefixes llmgate knows
 * (`groq/llama3-8b-8192`, `azure/prod-gpt4o`, ...), what each one's
 * upstream looks like on the wire and, for the ones llmgate does not serve,
 * why. Used by the config loader (prefix, default base URL, key variable),
 * provider_request.c (URL and credential header), `llmgatectl probe`, the
 * did-you-mean of `--check` and llmgate.yaml(5) (man/gen_config_keys.c), so
 * none of them can disagree.
 *
 * Defaults are LiteLLM's own (litellm/litellm_core_utils/
 * get_llm_provider_logic.py and litellm/llms/<provider>/): a deployment with
 * no api_base goes where LiteLLM would send it, and one with no api_key
 * takes it from the variable LiteLLM reads. gemini/ and anthropic/ go to
 * those vendors' own OpenAI-compatible endpoints: llmgate never translates
 * between APIs.
 *
 * PROVIDERS(X): X(id, prefix, default api_base or NULL, LiteLLM's base
 * variables or NULL, key variables or NULL (both space separated, in the
 * order LiteLLM tries them), auth, base rule, operations, note). Azure's
 * api_version variable is PROVIDER_AZURE_VERSION_VAR. A NULL default
 * api_base means a
 * deployment must name its own (or the base variable must be set). The
 * note says what the upstream does not support (served providers) or why
 * llmgate cannot serve it (OPS_NONE).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* How the credential goes upstream. */
enum provider_auth {
	PROVIDER_AUTH_BEARER, /* Authorization: Bearer KEY, when there is a key */
	PROVIDER_AUTH_AZURE,  /* api-key: KEY, or Bearer with azure_ad_token */
	/* Azure AI Foundry: api-key on *.services.ai.azure.com and
	 * *.openai.azure.com hosts, Bearer on any other (serverless) host */
	PROVIDER_AUTH_AZURE_AI,
};

/* How the URL is formed from api_base (see provider_request_url()). */
enum provider_path {
	PROVIDER_PATH_OPENAI,   /* {api_base}/{op} */
	PROVIDER_PATH_V1,       /* {api_base}/v1/{op} unless api_base ends in /v1 */
	PROVIDER_PATH_AZURE,    /* {api_base}/openai/deployments/{deployment}/{op}?api-version= */
	PROVIDER_PATH_AZURE_AI, /* *.services.ai.azure.com: {api_base}/models/{op}; else as openai;
	                           ?api-version= when api_version is set */
};

/* Operations a provider's upstream answers. */
#define PROVIDER_OP_CHAT        0x1u  /* chat/completions */
#define PROVIDER_OP_COMPLETIONS 0x2u  /* completions (legacy) */
#define PROVIDER_OP_EMBEDDINGS  0x4u  /* embeddings */
#define PROVIDER_OP_IMAGES      0x8u  /* images/generations, images/edits */
#define PROVIDER_OP_AUDIO       0x10u /* audio/speech, audio/transcriptions, audio/translations */
#define PROVIDER_OP_MODERATIONS 0x20u /* moderations */
#define OPS_ALL                 (PROVIDER_OP_CHAT | PROVIDER_OP_COMPLETIONS | PROVIDER_OP_EMBEDDINGS)
#define OPS_CHAT_EMB            (PROVIDER_OP_CHAT | PROVIDER_OP_EMBEDDINGS)
#define OPS_CHAT                PROVIDER_OP_CHAT
#define OPS_NONE                0u

#define NOT_SERVED_SIGNING "Needs its cloud's request signing and its own API"
#define NOT_SERVED_NATIVE  "Speaks its own API, not the OpenAI wire format"

/* clang-format off */
#define PROVIDERS(X)                                                                                    \
	X(OPENAI, "openai", "https://api.openai.com/v1", "OPENAI_BASE_URL OPENAI_API_BASE",            \
	  "OPENAI_API_KEY",                                    \
	  BEARER, OPENAI, OPS_ALL | PROVIDER_OP_IMAGES | PROVIDER_OP_AUDIO | PROVIDER_OP_MODERATIONS,   \
	  "Any OpenAI-compatible server, given its api_base")                                           \
	X(AZURE, "azure", NULL, "AZURE_API_BASE", "AZURE_OPENAI_API_KEY AZURE_API_KEY", AZURE, AZURE,    \
	  OPS_ALL | PROVIDER_OP_IMAGES | PROVIDER_OP_AUDIO,                                             \
	  "Azure OpenAI; the deployment is the part after azure/ (or deployment_id); Azure OpenAI "     \
	  "has no moderations endpoint")                                                                \
	X(TEXT_COMPLETION_OPENAI, "text-completion-openai", "https://api.openai.com/v1",                \
	  "OPENAI_BASE_URL OPENAI_API_BASE", "OPENAI_API_KEY",    \
	  BEARER, OPENAI, PROVIDER_OP_COMPLETIONS,                                    \
	  "Legacy completions only: chat requests are not translated to completions")                   \
	X(AZURE_AI, "azure_ai", NULL, "AZURE_AI_API_BASE", "AZURE_AI_API_KEY", AZURE_AI, AZURE_AI,      \
	  OPS_CHAT_EMB, "Azure AI Foundry and serverless endpoints; no legacy completions")             \
	X(GROQ, "groq", "https://api.groq.com/openai/v1", "GROQ_API_BASE", "GROQ_API_KEY", BEARER,      \
	  OPENAI, OPS_CHAT, "No embeddings, no legacy completions")                                     \
	X(OPENROUTER, "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_BASE",              \
	  "OPENROUTER_API_KEY OR_API_KEY", BEARER, OPENAI, OPS_ALL,                                     \
	  "The model keeps its own slashes: openrouter/anthropic/claude-3.5-sonnet") \
	X(OLLAMA, "ollama", "http://localhost:11434", "OLLAMA_API_BASE", "OLLAMA_API_KEY", BEARER, V1,  \
	  OPS_ALL, "Served through Ollama's OpenAI-compatible /v1 API; no key needed")                  \
	X(OLLAMA_CHAT, "ollama_chat", "http://localhost:11434", "OLLAMA_API_BASE", "OLLAMA_API_KEY",    \
	  BEARER, V1, OPS_ALL, "As ollama/")                                                            \
	X(HOSTED_VLLM, "hosted_vllm", NULL, "HOSTED_VLLM_API_BASE", "HOSTED_VLLM_API_KEY", BEARER,      \
	  OPENAI, OPS_ALL, "The api_base is the server's /v1 URL; no key needed")                   \
	X(LM_STUDIO, "lm_studio", NULL, "LM_STUDIO_API_BASE", "LM_STUDIO_API_KEY", BEARER, OPENAI,      \
	  OPS_ALL, "The api_base is the server's /v1 URL (http://localhost:1234/v1); no key needed")                  \
	X(PERPLEXITY, "perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_BASE",                 \
	  "PERPLEXITYAI_API_KEY PERPLEXITY_API_KEY", BEARER, OPENAI, OPS_CHAT, "")                                                                      \
	X(MISTRAL, "mistral", "https://api.mistral.ai/v1", "MISTRAL_AZURE_API_BASE",                    \
	  "MISTRAL_AZURE_API_KEY MISTRAL_API_KEY", BEARER, V1, OPS_CHAT_EMB,                            \
	  "No legacy completions; /v1 is added to an api_base without it, as LiteLLM does")             \
	X(DEEPSEEK, "deepseek", "https://api.deepseek.com/beta", "DEEPSEEK_API_BASE",                   \
	  "DEEPSEEK_API_KEY", BEARER, OPENAI, PROVIDER_OP_CHAT | PROVIDER_OP_COMPLETIONS,               \
	  "No embeddings")                                                                              \
	X(TOGETHER_AI, "together_ai", "https://api.together.xyz/v1", "TOGETHER_AI_API_BASE",            \
	  "TOGETHER_API_KEY TOGETHER_AI_API_KEY TOGETHERAI_API_KEY TOGETHER_AI_TOKEN", BEARER, OPENAI,  \
	  OPS_ALL, "")                                                                                  \
	X(FIREWORKS_AI, "fireworks_ai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_BASE",  \
	  "FIREWORKS_API_KEY FIREWORKS_AI_API_KEY FIREWORKSAI_API_KEY FIREWORKS_AI_TOKEN", BEARER,      \
	  OPENAI, OPS_ALL, "")                                                                          \
	X(CEREBRAS, "cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_BASE", "CEREBRAS_API_KEY",  \
	  BEARER, OPENAI, PROVIDER_OP_CHAT | PROVIDER_OP_COMPLETIONS, "No embeddings")                  \
	X(XAI, "xai", "https://api.x.ai/v1", "XAI_API_BASE", "XAI_API_KEY", BEARER, OPENAI, OPS_CHAT,   \
	  "")                                                                      \
	X(DEEPINFRA, "deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_BASE",          \
	  "DEEPINFRA_API_KEY", BEARER, OPENAI, OPS_ALL, "")                                             \
	X(NVIDIA_NIM, "nvidia_nim", "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_BASE",       \
	  "NVIDIA_NIM_API_KEY", BEARER, OPENAI, OPS_ALL, "")                                            \
	X(GITHUB, "github", "https://models.inference.ai.azure.com", "GITHUB_API_BASE",                 \
	  "GITHUB_API_KEY", BEARER, OPENAI, OPS_CHAT_EMB, "GitHub Models; no legacy completions")       \
	X(GEMINI, "gemini", "https://generativelanguage.googleapis.com/v1beta/openai", NULL,            \
	  "GOOGLE_API_KEY GEMINI_API_KEY", BEARER, OPENAI, OPS_CHAT_EMB,                                \
	  "Google's OpenAI-compatible endpoint, not LiteLLM's native Gemini API: no legacy "            \
	  "completions; Gemini-only parameters (safety_settings...) are not translated")                \
	X(ANTHROPIC, "anthropic", "https://api.anthropic.com/v1", NULL, "ANTHROPIC_API_KEY", BEARER,    \
	  OPENAI, OPS_CHAT,                                                                             \
	  "Anthropic's OpenAI SDK compatibility layer, not its Messages API: chat completions only; "   \
	  "no embeddings; strict tool schemas, audio and prompt caching are not supported there")       \
	X(VERTEX_AI, "vertex_ai", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE,                           \
	  "Needs Google Cloud credentials (OAuth) and the Vertex AI API")                               \
	X(BEDROCK, "bedrock", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_SIGNING)           \
	X(SAGEMAKER, "sagemaker", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_SIGNING)       \
	X(COHERE, "cohere", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_NATIVE)              \
	X(HUGGINGFACE, "huggingface", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_NATIVE)    \
	X(REPLICATE, "replicate", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_NATIVE)        \
	X(WATSONX, "watsonx", NULL, NULL, NULL, BEARER, OPENAI, OPS_NONE, NOT_SERVED_SIGNING)
/* clang-format on */

/*
 * AZURE_MODEL_VERSIONS(X): X(model, first api-version that serves it) for
 * Azure OpenAI models that an older dated api_version refuses, from
 * Microsoft's "Azure OpenAI reasoning models" page (API & feature support).
 * A deployment is matched by its name's start, longest model first.
 */
#define AZURE_MODEL_VERSIONS(X)               \
	X("o1-preview", "2024-09-01-preview") \
	X("o1-mini", "2024-09-01-preview")    \
	X("o3-mini", "2024-12-01-preview")    \
	X("o1", "2024-12-01-preview")

enum provider {
#define PROVIDER_ENUM(id, ...) PROVIDER_##id,
	PROVIDERS(PROVIDER_ENUM)
#undef PROVIDER_ENUM
	        PROVIDER__COUNT,
};

struct provider_info {
	const char *prefix;       /* as written before the first '/' of model */
	const char *default_base; /* NULL: api_base required */
	const char *base_vars;    /* LiteLLM's variables for api_base, space separated, or NULL */
	const char *key_vars;     /* LiteLLM's key variables, space separated, or NULL */
	enum provider_auth auth;
	enum provider_path path;
	unsigned ops;     /* PROVIDER_OP_*; 0: not served */
	const char *note; /* what is not supported, or why it is not served */
};

const struct provider_info *provider_info(enum provider provider);

/* The prefix ("openai", "azure", ...); "unknown" out of range. */
const char *provider_name(enum provider provider);

/* The provider whose prefix is the N bytes at PREFIX; false if none. */
bool provider_find(const char *prefix, size_t n, enum provider *ret_provider);

/* Whether llmgate sends requests to this provider at all. */
bool provider_served(enum provider provider);

/* The known prefix closest to WORD when close enough to be a typo, or NULL. */
const char *provider_suggest(const char *word);

/* LiteLLM's variable for an azure/ entry without api_version. */
#define PROVIDER_AZURE_VERSION_VAR "AZURE_API_VERSION"

/*
 * The Ith (0-based) key variable of PROVIDER copied into BUF; false when
 * there is none (or it does not fit). provider_base_var(): the same for
 * its api_base variables.
 */
bool provider_key_var(enum provider provider, size_t i, char *buf, size_t len);
bool provider_base_var(enum provider provider, size_t i, char *buf, size_t len);

/*
 * The first Azure api-version that serves DEPLOYMENT when its name starts
 * with a model of AZURE_MODEL_VERSIONS and VERSION (dated) is older than
 * that; else NULL. v1, latest and preview serve every model.
 */
const char *provider_azure_version_too_old(const char *deployment, const char *version);

/* "chat/completions" -> PROVIDER_OP_CHAT etc.; 0 for another op. */
unsigned provider_op_bit(const char *op);
