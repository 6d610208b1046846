/*
 * usage_cost: what an answer's token usage costs at a deployment's prices
 * (LiteLLM's input_cost_per_token, output_cost_per_token,
 * cache_read_input_token_cost, output_cost_per_reasoning_token, from
 * litellm_params or model_info; config_usage.c reads them). Pure.
 *
 * cost = (prompt - cached) x input + cached x cache_read
 *      + (completion - reasoning) x output + reasoning x reasoning_price
 * where cached prompt tokens are priced at cache_read_input_token_cost
 * only when it is configured and the answer reported them (else at the
 * input price), and reasoning tokens (part of the completion tokens, as
 * OpenAI and Azure count them) at output_cost_per_reasoning_token only when
 * it is configured and reported (else at the output price). No built-in
 * price list: a deployment without any of the four has no cost.
 */
#pragma once

#include <stdbool.h>

#include "usage.h"

struct usage_price {
	bool set; /* any of the four is configured: the deployment has a cost */
	double input, output, cache_read, reasoning; /* per token; 0 when unset */
	bool has_input, has_output, has_cache_read, has_reasoning;
};

/* The cost of U at P (0 when U is unknown or P is not set). */
double usage_cost(const struct usage *u, const struct usage_price *p);

/* Parses a price (a plain decimal or scientific number, 0 or more, finite):
 * true with *RET set, false otherwise. */
bool usage_price_parse(const char *text, double *ret);
