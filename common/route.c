/*
 * route: names of the fallback modes and routes (see route.h).
 */
#include "route.h"

static const char *const mode_names[MODE__COUNT] = {
        [MODE_NORMAL] = "normal",
        [MODE_FALLBACK] = "fallback",
        [MODE_DEGRADED] = "degraded",
};

static const char *const route_names[ROUTE__COUNT] = {
        [ROUTE_PRIMARY] = "primary",
        [ROUTE_FALLBACK] = "fallback",
        [ROUTE_DIRECT_AZURE] = "direct-azure",
        [ROUTE_PASSTHROUGH] = "passthrough",
};

const char *fallback_mode_name(enum fallback_mode mode)
{
	return (unsigned)mode < MODE__COUNT ? mode_names[mode] : "unknown";
}

const char *route_name(enum route route)
{
	return (unsigned)route < ROUTE__COUNT ? route_names[route] : "unknown";
}
