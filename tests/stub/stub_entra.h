/*
 * stub_entra: the stub's check of Entra ID access tokens (--require-entra
 * SECRET), as Azure OpenAI checks them for a resource with key access
 * disabled: only "Authorization: Bearer JWT" is accepted, signed by the
 * test's token endpoint (HS256 with SECRET: the stub cannot hold Entra's
 * keys, a shared secret proves the same thing), unexpired ("exp") and for
 * the Cognitive Services audience ("aud"). An api-key header is refused.
 */
#ifndef STUB_ENTRA_H
#define STUB_ENTRA_H

#include <stdbool.h>

enum stub_entra_verdict {
	STUB_ENTRA_OK,
	STUB_ENTRA_KEY_DISABLED, /* an api-key was sent: 403 AuthenticationTypeDisabled */
	STUB_ENTRA_INVALID,      /* missing, malformed, forged, expired, wrong audience: 401 */
};

/* AUTHORIZATION and API_KEY are the request's headers (NULL when absent);
 * NOW is the realtime clock in seconds. */
enum stub_entra_verdict stub_entra_check(const char *secret, const char *authorization,
                                         const char *api_key, long long now);

#endif
