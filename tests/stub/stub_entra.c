/*
 * stub_entra: verifies an Entra ID bearer token for the stub's Azure paths
 * (see stub_entra.h). A JWT is three base64url parts, header.payload.sig;
 * the signature is HMAC-SHA256 over "header.payload" with the shared secret;
 * the payload is JSON with "exp" (seconds) and "aud".
 */
#include "stub_entra.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUDIENCE "https://cognitiveservices.azure.com"

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes LEN characters of unpadded base64url into OUT (room for len*3/4+1). */
static long b64url_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned long acc = 0;
	long n = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

static bool verify(const char *secret, const char *jwt, long long now)
{
	const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	unsigned char mac[EVP_MAX_MD_SIZE], *sig, *payload;
	unsigned int mac_len = 0;
	long sig_len, payload_len;
	json_t *root;
	bool ok = false;

	if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
		return false;
	sig = malloc(strlen(dot2 + 1) + 1);
	payload = malloc((size_t)(dot2 - dot1) + 1);
	if (!sig || !payload)
		goto out;
	sig_len = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)jwt,
	          (size_t)(dot2 - jwt), mac, &mac_len) ||
	    sig_len != (long)mac_len || CRYPTO_memcmp(sig, mac, mac_len) != 0)
		goto out;
	payload_len = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload);
	if (payload_len < 0)
		goto out;
	root = json_loadb((const char *)payload, (size_t)payload_len, 0, NULL);
	ok = json_is_integer(json_object_get(root, "exp")) &&
	     json_integer_value(json_object_get(root, "exp")) > now &&
	     json_is_string(json_object_get(root, "aud")) &&
	     strcmp(json_string_value(json_object_get(root, "aud")), AUDIENCE) == 0;
	json_decref(root);
out:
	free(sig);
	free(payload);
	return ok;
}

enum stub_entra_verdict stub_entra_check(const char *secret, const char *authorization,
                                         const char *api_key, long long now)
{
	const char *token;

	if (api_key)
		return STUB_ENTRA_KEY_DISABLED;
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return STUB_ENTRA_INVALID;
	token = authorization + 7;
	while (*token == ' ')
		token++;
	return verify(secret, token, now) ? STUB_ENTRA_OK : STUB_ENTRA_INVALID;
}
