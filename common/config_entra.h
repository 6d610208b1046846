/*
 * config_entra: which Entra ID credential an azure/ deployment uses, from
 * its litellm_params (LiteLLM's tenant_id, client_id, client_secret,
 * azure_scope; llmgate's azure_credential), litellm_settings'
 * enable_azure_ad_token_refresh and the environment the Azure identity
 * libraries read (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
 * AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT, IDENTITY_HEADER,
 * AZURE_AUTHORITY_HOST, AZURE_POD_IDENTITY_AUTHORITY_HOST, AZURE_CREDENTIAL).
 * Part of the config loader (config.c calls it once per azure deployment
 * after the settings are read); it reports problems through a callback and
 * never shows a secret.
 *
 * Selection, first match wins:
 *   1. azure_credential written (client_secret, workload_identity,
 *      managed_identity, or LiteLLM's AZURE_CREDENTIAL class names), or
 *      AZURE_CREDENTIAL in the environment with enable_azure_ad_token_refresh;
 *   2. any of tenant_id, client_id, client_secret written: client secret
 *      (every part needed; a missing one is an error naming it);
 *   3. enable_azure_ad_token_refresh: true and no key: as DefaultAzureCredential
 *      tries them: workload identity when AZURE_FEDERATED_TOKEN_FILE is set,
 *      client secret from AZURE_* when all three are set, App Service /
 *      Container Apps when IDENTITY_ENDPOINT is set, else the VM's IMDS.
 * A deployment with api_key or azure_ad_token and a credential uses the key,
 * as LiteLLM does, with a warning.
 */
#pragma once

#include <stdbool.h>

#include "entra.h"

struct config_entra_input {
	const char *tenant_id, *client_id, *client_secret, *scope, *credential;
	bool scope_written;
	bool refresh_enabled; /* litellm_settings.enable_azure_ad_token_refresh */
	bool has_key;         /* api_key or azure_ad_token */
	const char *key_name; /* which one, for the warning */
};

/* ERROR or warning MSG about KEY (the litellm_params key, or NULL). */
typedef void config_entra_report_fn(void *ctx, bool error, const char *key, const char *msg);

/*
 * Resolves IN into RET (source ENTRA_NONE when the deployment uses no Entra
 * credential). Returns 0, -EINVAL after reporting an error, -ENOMEM.
 */
int config_entra_resolve(const struct config_entra_input *in, struct entra_credential *ret,
                         config_entra_report_fn *report, void *ctx);
