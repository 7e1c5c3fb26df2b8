/* cli/output.h: the results of a convnet command, collected while it runs and
 * written to stdout only when it succeeds: either human-readable (optional tables
 * such as the cross-validation grid, then an aligned "name  value" summary) or,
 * with --json, exactly one JSON object built with jansson and nothing else. */
#ifndef CONVNET_CLI_OUTPUT_H
#define CONVNET_CLI_OUTPUT_H

#include <jansson.h>

/* How a real is shown in the human table (JSON always gets the full value). */
typedef enum cli_real_fmt {
    CLI_FMT_ACC = 0, /* accuracy: 0.8563 */
    CLI_FMT_G,       /* general: 0.00123, 1e-05 */
    CLI_FMT_SEC      /* seconds: 12.3 */
} cli_real_fmt;

typedef struct cli_out cli_out;
typedef struct cli_table cli_table;

/* cli_out_new: an empty result of command (sets "command"). NULL on OOM. */
cli_out *cli_out_new(const char *command);
void cli_out_free(cli_out *o);

/* Set key in the JSON object and, when label is non-NULL, add a "label  value"
 * row to the human summary. Setting a key again replaces its JSON value. */
void cli_out_str(cli_out *o, const char *key, const char *label, const char *v);
void cli_out_int(cli_out *o, const char *key, const char *label, long long v);
void cli_out_bool(cli_out *o, const char *key, const char *label, int v);
/* Non-finite v is written as JSON null and "-" in the table. */
void cli_out_real(cli_out *o, const char *key, const char *label, double v, cli_real_fmt fmt);
/* cli_out_json: set key to v in the JSON object only (v is stolen; NULL marks OOM). */
void cli_out_json(cli_out *o, const char *key, json_t *v);

/* cli_out_table: a table shown in human mode under title, whose rows are also
 * the elements of the JSON array key. NULL on OOM (later calls accept NULL). */
cli_table *cli_out_table(cli_out *o, const char *key, const char *title, int ncols,
                         const char *const *headers);
/* cli_table_row: append a row: cells[0..ncols) for humans, obj (stolen) for JSON. */
void cli_table_row(cli_table *t, const char *const *cells, json_t *obj);

/* cli_json_real: json_real(v), or json null when v is not finite. */
json_t *cli_json_real(double v);

/* cli_fmt_real: v formatted as in the human table into buf. Returns buf. */
char *cli_fmt_real(double v, cli_real_fmt fmt, char *buf, size_t size);

/* cli_out_print: write the result to stdout (JSON when json is non-zero) and
 * flush. Returns 0, or -1 when memory ran out earlier or stdout failed (a
 * message is printed on stderr). */
int cli_out_print(cli_out *o, int json);

#endif /* CONVNET_CLI_OUTPUT_H */
