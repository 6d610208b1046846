/*
 * route: the shared words for how traffic is steered (SPEC 7).
 *
 * A fallback mode is what the supervisor decides per primary group and every
 * worker applies; a route is how one answered request reached the deployment
 * that answered it (the x-llmgate-route value, a metrics label, an access-log
 * field). Both travel over IPC as their enum values, so the order is the wire
 * format: append, never reorder.
 */
#pragma once

enum fallback_mode {
	MODE_NORMAL,   /* primary first; per-request fallbacks */
	MODE_FALLBACK, /* straight to the direct-Azure group (probes aside) */
	MODE_DEGRADED, /* direct Azure failing too: primary first, then Azure */
	MODE__COUNT,
};

const char *fallback_mode_name(enum fallback_mode mode);

enum route {
	ROUTE_PRIMARY,      /* the request's own group */
	ROUTE_FALLBACK,     /* a group of its fallback chain, per request */
	ROUTE_DIRECT_AZURE, /* the global fallback mode sent it there */
	ROUTE_PASSTHROUGH,  /* relayed as is (worker/passthrough.c): no group, no retry */
	ROUTE__COUNT,
};

const char *route_name(enum route route);
