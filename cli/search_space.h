/* cli/search_space.h: the search space of `convnet search`: the --space text
 * (comma-separated name=lo:hi[:log|linear|int] dimensions, each a configuration
 * key of `convnet train` that a search may vary, checked against the base
 * configuration), and a dimension's values and ranges as configuration values,
 * table cells, JSON and one-line text. */
#ifndef CONVNET_CLI_SEARCH_SPACE_H
#define CONVNET_CLI_SEARCH_SPACE_H

#include <jansson.h>
#include <stddef.h>

#include "convnet.h"
#include "progress.h"
#include "train_config.h"

/* cli_space_value_text: v as a configuration value of dimension d ("%.0f" for
 * int dimensions, else "%.17g") into buf (cap bytes). */
void cli_space_value_text(const cn_search_dim *d, double v, char *buf, size_t cap);

/* cli_space_value_cell: v for a table cell of dimension d ("%.0f" for int
 * dimensions, else "%.3g") into buf (cap bytes). */
void cli_space_value_cell(const cn_search_dim *d, double v, char *buf, size_t cap);

/* cli_space_parse: parse text (the --space value) into dims[0..*n) ('-' in names
 * turned into '_'). Each name must be a configuration key that a search may vary
 * (not epochs, seed, val, train_limit, test_limit, threads, checkpoint_every,
 * monitor, data, out), given once, whose range's values base accepts. Explicit
 * spaces (is_default 0) must be fully valid; in the default space, dimensions the
 * model lacks are left out (said on p). Returns 0, or CLI_EXIT_USAGE after
 * printing "convnet: search: --space: <why>". */
int cli_space_parse(const char *text, int is_default, const cli_train_cfg *base,
                    cli_progress *p, cn_search_dim *dims, int *n);

/* cli_space_json: dims[0..n) as a new JSON array of {"name", "lo", "hi",
 * "scale"}, or NULL when out of memory. */
json_t *cli_space_json(const cn_search_dim *dims, int n);

/* cli_space_text: dims[0..n) as "lr=0.001:0.1:log, dropout=0:0.5:linear" into
 * buf (cap bytes, truncated when longer). */
void cli_space_text(const cn_search_dim *dims, int n, char *buf, size_t cap);

#endif /* CONVNET_CLI_SEARCH_SPACE_H */
