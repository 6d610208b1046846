/*
 * config_lint: pure checks for shapes seen in published LiteLLM configs that
 * load but rarely do what their author meant (issue 17): an unfilled
 * placeholder, os.environ/ in the middle of a value. The loader (config.c)
 * reports them at their line:col; nothing here allocates or logs.
 */
#pragma once

#include <stdbool.h>

/*
 * Whether S looks like a value nobody filled in: "<your-deployment>",
 * "CHANGE_ME", "REPLACE_ME", "your-resource", "YOUR_API_KEY", "xxx...".
 */
bool config_lint_placeholder(const char *s);

/* Whether S has "os.environ/" after its start (LiteLLM expands it only as
 * the whole value). */
bool config_lint_environ_inside(const char *s);
