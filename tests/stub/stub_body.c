/*
 * stub_body: builds response bodies and stream events as OpenAI and Azure OpenAI send them
 * (field order, Azure's content filter results, error shapes and messages), so that a gateway
 * tested against the stub sees what it will see in production. Pure formatting, no I/O.
 */
#include "stub_body.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BODY_CFR                                                    \
	"{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},"     \
	"\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"}," \
	"\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},"    \
	"\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}"
#define BODY_PFR "[{\"prompt_index\":0,\"content_filter_results\":" BODY_CFR "}]"

static const char body_azure_429[] =
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-06-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
        "Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you "
        "would like to further increase the default rate limit.";

static const char *const op_names[STUB_BODY__COUNT] = {
        [STUB_BODY_CHAT] = "chat/completions",
        [STUB_BODY_COMPLETIONS] = "completions",
        [STUB_BODY_EMBEDDINGS] = "embeddings",
};

const char *stub_body_op_name(enum stub_body_op op)
{
	return op_names[op];
}

void stub_body_escape(struct evbuffer *out, const char *s, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evbuffer_add(out, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			evbuffer_add(out, esc, 2);
		} else if (c == '\n') {
			evbuffer_add(out, "\\n", 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			evbuffer_add(out, esc, 6);
		}
	}
	evbuffer_add(out, s + run, len - run);
}

/* Appends a quoted JSON string. */
static void body_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	stub_body_escape(out, s, strlen(s));
	evbuffer_add(out, "\"", 1);
}

int stub_body_word_count(const char *message)
{
	int n = 0;

	for (const char *p = message; *p; p++)
		if (*p != ' ' && (p == message || p[-1] == ' '))
			n++;
	return n;
}

/* The i-th token of a stream: the message's words in turn, cycling, space-separated. */
static void body_token(struct evbuffer *out, const char *message, int i)
{
	int words = stub_body_word_count(message), want, n = 0;
	const char *p = message;

	evbuffer_add(out, "\"", 1);
	if (words > 0) {
		want = i % words;
		for (; *p; p++) {
			if (*p != ' ' && (p == message || p[-1] == ' ') && n++ == want)
				break;
		}
		if (i > 0)
			evbuffer_add(out, " ", 1);
		stub_body_escape(out, p, strcspn(p, " "));
	}
	evbuffer_add(out, "\"", 1);
}

/* The usage object as OpenAI and Azure send it: chat completions with
 * prompt_tokens_details and completion_tokens_details (reasoning tokens are
 * part of completion_tokens), legacy completions with the three counts. */
static void body_usage(struct evbuffer *out, const struct stub_body_info *in, int words)
{
	int completion = words + in->reasoning_tokens;

	evbuffer_add_printf(out,
	                    "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
	                    "\"total_tokens\":%d",
	                    in->prompt_tokens, completion, in->prompt_tokens + completion);
	if (in->op == STUB_BODY_CHAT)
		evbuffer_add_printf(
		        out,
		        ",\"prompt_tokens_details\":{\"cached_tokens\":%d,"
		        "\"audio_tokens\":0},\"completion_tokens_details\":{"
		        "\"reasoning_tokens\":%d,\"audio_tokens\":0,"
		        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}",
		        in->cached_tokens, in->reasoning_tokens);
	evbuffer_add(out, "}", 1);
}

/* Deterministic small values in [-0.1, 0.1). */
static float body_vector_value(int i)
{
	return (float)((i * 7919) % 2000 - 1000) / 10000.0f;
}

static void body_base64_vector(struct evbuffer *out, int dims)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t bytes = (size_t)dims * 4;

	for (size_t b = 0; b < bytes; b++) {
		float f = body_vector_value((int)(b / 4));
		uint32_t u;

		memcpy(&u, &f, 4);
		acc = (acc << 8) | ((u >> (8 * (b % 4))) & 0xff); /* little-endian float32 */
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			evbuffer_add(out, &tab[(acc >> bits) & 0x3f], 1);
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		evbuffer_add(out, &tab[(acc << (6 - bits)) & 0x3f], 1);
	if (bytes % 3)
		evbuffer_add(out, "==", 3 - bytes % 3);
}

static void body_embeddings(struct evbuffer *out, const struct stub_body_info *in)
{
	evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
	for (int n = 0; n < in->inputs; n++) {
		evbuffer_add_printf(out, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":",
		                    n ? "," : "", n);
		if (in->base64) {
			evbuffer_add(out, "\"", 1);
			body_base64_vector(out, in->dimensions);
			evbuffer_add(out, "\"", 1);
		} else {
			evbuffer_add(out, "[", 1);
			for (int i = 0; i < in->dimensions; i++)
				evbuffer_add_printf(out, "%s%.4f", i ? "," : "",
				                    (double)body_vector_value(i));
			evbuffer_add(out, "]", 1);
		}
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add_printf(out, "],\"model\":");
	body_str(out, in->model);
	evbuffer_add_printf(out, ",\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}",
	                    in->prompt_tokens, in->prompt_tokens);
}

static void body_head(struct evbuffer *out, const struct stub_body_info *in, const char *object)
{
	evbuffer_add_printf(out,
	                    "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", in->id,
	                    object, in->created);
	body_str(out, in->model);
}

void stub_body_reply(struct evbuffer *out, const struct stub_body_info *in)
{
	int words = stub_body_word_count(in->message);

	if (in->op == STUB_BODY_EMBEDDINGS) {
		body_embeddings(out, in);
		return;
	}
	if (in->op == STUB_BODY_COMPLETIONS) {
		body_head(out, in, "text_completion");
		if (in->azure)
			evbuffer_add_printf(out, ",\"prompt_filter_results\":%s", BODY_PFR);
		evbuffer_add_printf(out, ",\"choices\":[{\"text\":");
		body_str(out, in->message);
		evbuffer_add_printf(
		        out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"%s}],",
		        in->azure ? ",\"content_filter_results\":" BODY_CFR : "");
		body_usage(out, in, words);
		evbuffer_add(out, "}", 1);
		return;
	}
	body_head(out, in, "chat.completion");
	if (in->azure)
		evbuffer_add_printf(out, ",\"prompt_filter_results\":%s", BODY_PFR);
	evbuffer_add_printf(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
	                         "\"content\":");
	body_str(out, in->message);
	evbuffer_add_printf(out,
	                    ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"%s}],",
	                    in->azure ? ",\"content_filter_results\":" BODY_CFR : "");
	body_usage(out, in, words);
	evbuffer_add_printf(out, ",\"system_fingerprint\":\"fp_stub\"}");
}

static void body_chunk_head(struct evbuffer *out, const struct stub_body_info *in)
{
	evbuffer_add(out, "data: ", 6);
	body_head(out, in, in->op == STUB_BODY_CHAT ? "chat.completion.chunk" : "text_completion");
	if (in->op == STUB_BODY_CHAT)
		evbuffer_add_printf(out, ",\"system_fingerprint\":\"fp_stub\"");
}

int stub_body_stream_next(struct stub_body_stream *s, struct evbuffer *out)
{
	const struct stub_body_info *in = s->info;
	bool chat = in->op == STUB_BODY_CHAT;
	int e = s->next++ - (in->azure ? 1 : 0);

	if (e < 0) {
		/* Azure opens with the prompt's content filter results and no choices. */
		evbuffer_add_printf(
		        out,
		        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\","
		        "\"object\":\"\",\"prompt_filter_results\":%s}\n\n",
		        BODY_PFR);
		return 1;
	}
	if (e > s->chunks + (s->include_usage ? 1 : 0)) {
		evbuffer_add(out, "data: [DONE]\n\n", 14);
		return 0;
	}
	body_chunk_head(out, in);
	if (e < s->chunks) {
		if (chat) {
			evbuffer_add_printf(out,
			                    ",\"choices\":[{\"index\":0,\"delta\":{%s\"content\":",
			                    e == 0 ? "\"role\":\"assistant\"," : "");
			body_token(out, in->message, e);
			evbuffer_add_printf(out, "},\"logprobs\":null,\"finish_reason\":null%s}]",
			                    in->azure ? ",\"content_filter_results\":" BODY_CFR
			                              : "");
		} else {
			evbuffer_add_printf(out, ",\"choices\":[{\"text\":");
			body_token(out, in->message, e);
			evbuffer_add_printf(
			        out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]");
		}
	} else if (e == s->chunks) {
		if (chat)
			evbuffer_add_printf(out,
			                    ",\"choices\":[{\"index\":0,\"delta\":{},"
			                    "\"logprobs\":null,\"finish_reason\":\"stop\"%s}]",
			                    in->azure ? ",\"content_filter_results\":{}" : "");
		else
			evbuffer_add_printf(out, ",\"choices\":[{\"text\":\"\",\"index\":0,"
			                         "\"logprobs\":null,\"finish_reason\":\"stop\"}]");
	} else {
		evbuffer_add_printf(out, ",\"choices\":[],");
		body_usage(out, in, s->chunks);
	}
	if (s->include_usage && e <= s->chunks)
		evbuffer_add_printf(out, ",\"usage\":null"); /* as OpenAI: every chunk has it */
	evbuffer_add(out, "}\n\n", 3);
	return 1;
}

int stub_body_stream_sent(const struct stub_body_stream *s)
{
	int e = s->next - (s->info->azure ? 1 : 0);

	return e < 0 ? 0 : e > s->chunks ? s->chunks : e;
}

bool stub_body_stream_in_content(const struct stub_body_stream *s)
{
	int e = s->next - (s->info->azure ? 1 : 0);

	return e >= 0 && e <= s->chunks;
}

void stub_body_openai_error(struct evbuffer *out, const char *message, const char *type,
                            const char *code)
{
	evbuffer_add_printf(out, "{\"error\":{\"message\":");
	body_str(out, message);
	evbuffer_add_printf(out, ",\"type\":");
	if (type)
		body_str(out, type);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add_printf(out, ",\"param\":null,\"code\":");
	if (code)
		body_str(out, code);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add(out, "}}", 2);
}

void stub_body_azure_error(struct evbuffer *out, const char *code, const char *message)
{
	evbuffer_add_printf(out, "{\"error\":{\"code\":");
	body_str(out, code);
	evbuffer_add_printf(out, ",\"message\":");
	body_str(out, message);
	evbuffer_add(out, "}}", 2);
}

/* Masks a key the way OpenAI echoes it: a few leading and the last four characters. */
static void body_mask_key(char *buf, size_t size, const char *key)
{
	size_t len = strlen(key), head = len >= 20 ? 8 : 3, stars;

	if (len < 10) {
		snprintf(buf, size, "%.*s", (int)(len < 64 ? len : 64),
		         "****************************************************************");
		return;
	}
	stars = len - head - 4 > 64 ? 64 : len - head - 4;
	snprintf(buf, size, "%.*s%.*s%s", (int)head, key, (int)stars,
	         "****************************************************************", key + len - 4);
}

void stub_body_auth_error(struct evbuffer *out, bool azure, const char *key)
{
	char masked[128], message[256];

	if (azure && !key) {
		stub_body_azure_error(out, "401",
		                      "Access denied due to missing subscription key. Make sure to "
		                      "include subscription key when making requests to an API.");
	} else if (azure) {
		stub_body_azure_error(
		        out, "401",
		        "Access denied due to invalid subscription key or wrong API "
		        "endpoint. Make sure to provide a valid key for an active "
		        "subscription and use a correct regional API endpoint for your "
		        "resource.");
	} else if (!key) {
		stub_body_openai_error(
		        out,
		        "You didn't provide an API key. You need to provide your API key in an "
		        "Authorization header using Bearer auth (i.e. Authorization: Bearer "
		        "YOUR_KEY), or as the password field (with blank username) if you're "
		        "accessing the API from your browser and are prompted for a username and "
		        "password. You can obtain an API key from "
		        "https://platform.openai.com/account/api-keys.",
		        "invalid_request_error", NULL);
	} else {
		body_mask_key(masked, sizeof(masked), key);
		snprintf(message, sizeof(message),
		         "Incorrect API key provided: %s. You can find your API key at "
		         "https://platform.openai.com/account/api-keys.",
		         masked);
		stub_body_openai_error(out, message, "invalid_request_error", "invalid_api_key");
	}
}

static void body_status_azure(struct evbuffer *out, int status)
{
	char code[16], message[128];

	switch (status) {
	case 400:
		stub_body_openai_error(out,
		                       "Invalid 'messages': empty array. Expected an array with "
		                       "minimum length 1, but got an empty array instead.",
		                       "invalid_request_error", "empty_array");
		return;
	case 401:
		stub_body_auth_error(out, true, "");
		return;
	case 403:
		stub_body_azure_error(out, "403",
		                      "Access denied due to Virtual Network/Firewall rules.");
		return;
	case 404:
		stub_body_azure_error(
		        out, "DeploymentNotFound",
		        "The API deployment for this resource does not exist. If you "
		        "created the deployment within the last 5 minutes, please wait "
		        "a moment and try again.");
		return;
	case 408:
	case 504:
		stub_body_azure_error(out, "Timeout", "The operation was timeout.");
		return;
	case 429:
		stub_body_azure_error(out, "429", body_azure_429);
		return;
	case 500:
		stub_body_azure_error(
		        out, "InternalServerError",
		        "The server had an error processing your request. Sorry about "
		        "that! You can retry your request, or contact us through an "
		        "Azure support request at: "
		        "https://go.microsoft.com/fwlink/?linkid=2213926 if you keep "
		        "seeing this error.");
		return;
	case 503:
		stub_body_azure_error(out, "ServiceUnavailable",
		                      "The service is temporarily unable to process your request. "
		                      "Please try again later.");
		return;
	default:
		snprintf(code, sizeof(code), "%d", status);
		snprintf(message, sizeof(message), "The stub answered with status %d as asked.",
		         status);
		stub_body_azure_error(out, code, message);
		return;
	}
}

static void body_status_openai(struct evbuffer *out, int status, const char *model)
{
	char message[512];

	switch (status) {
	case 400:
		stub_body_openai_error(out,
		                       "Invalid 'messages': empty array. Expected an array with "
		                       "minimum length 1, but got an empty array instead.",
		                       "invalid_request_error", "empty_array");
		return;
	case 401:
		stub_body_auth_error(out, false, "sk-stub-injected-401-0000");
		return;
	case 403:
		stub_body_openai_error(out, "You are not allowed to sample from this model",
		                       "invalid_request_error", NULL);
		return;
	case 404:
		snprintf(message, sizeof(message),
		         "The model `%.200s` does not exist or you do not have access to it.",
		         model ? model : "");
		stub_body_openai_error(out, message, "invalid_request_error", "model_not_found");
		return;
	case 429:
		snprintf(
		        message, sizeof(message),
		        "Rate limit reached for %.200s in organization org-stub on tokens per min "
		        "(TPM): Limit 30000, Used 30000, Requested 100. Please try again in 200ms. "
		        "Visit https://platform.openai.com/account/rate-limits to learn more.",
		        model ? model : "gpt-4o");
		stub_body_openai_error(out, message, "tokens", "rate_limit_exceeded");
		return;
	case 500:
		stub_body_openai_error(
		        out,
		        "The server had an error while processing your request. Sorry "
		        "about that!",
		        "server_error", NULL);
		return;
	case 502:
		evbuffer_add_printf(out, "{\"error\":{\"code\":502,\"message\":\"Bad gateway.\","
		                         "\"param\":null,\"type\":\"cf_bad_gateway\"}}");
		return;
	case 503:
		stub_body_openai_error(out,
		                       "The engine is currently overloaded, please try again later",
		                       "server_error", NULL);
		return;
	case 504:
		evbuffer_add_printf(out,
		                    "{\"error\":{\"code\":504,\"message\":\"Gateway timeout.\","
		                    "\"param\":null,\"type\":\"cf_gateway_timeout\"}}");
		return;
	default:
		snprintf(message, sizeof(message), "The stub answered with status %d as asked.",
		         status);
		stub_body_openai_error(out, message,
		                       status >= 500 ? "server_error" : "invalid_request_error",
		                       NULL);
		return;
	}
}

void stub_body_status_error(struct evbuffer *out, int status, bool azure, const char *model)
{
	if (azure)
		body_status_azure(out, status);
	else
		body_status_openai(out, status, model);
}
