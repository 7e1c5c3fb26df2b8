/* cli/args.h: the command-line tool's small, strict flag parser. A command
 * describes its flags in a table of cli_flag; cli_args_parse fills the targets
 * from argv and cli_args_help prints the table as help text.
 *
 * Accepted syntax: `--flag value` and `--flag=value`; boolean flags take no value.
 * Numbers are parsed strictly (the whole string, base 10, finite, in range):
 * `--epochs 1e99`, `--epochs -1`, `--lr nan`, `--k 3x` are usage errors. Unknown
 * flags are usage errors that name the nearest valid flag. A repeated flag is not
 * an error: the last occurrence wins. */
#ifndef CONVNET_CLI_ARGS_H
#define CONVNET_CLI_ARGS_H

#include <stdio.h>

/* Exit statuses of the convnet tool. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_RUNTIME 1    /* I/O, bad data, numeric failure */
#define CLI_EXIT_USAGE 2      /* unknown command or flag, bad value */
#define CLI_EXIT_INTERRUPT 130 /* stopped by SIGINT (Ctrl-C) */

#define CLI_LIST_MAX 64

typedef enum cli_flag_kind {
    CLI_FLAG_BOOL = 0, /* target int*: set to 1 when present; takes no value */
    CLI_FLAG_INT,      /* target int*: integer in [lo, hi] */
    CLI_FLAG_REAL,     /* target double*: finite number in [lo, hi] (open ends per flags) */
    CLI_FLAG_STRING,   /* target const char**: points into argv */
    CLI_FLAG_CHOICE,   /* target const char**: one of choices */
    CLI_FLAG_INT_LIST, /* target cli_int_list*: "1,3,5", each in [lo, hi] */
    CLI_FLAG_RANGE,    /* target cli_range*: "LO:HI", lo < hi, both in [lo, hi] */
    CLI_FLAG_KIND_COUNT
} cli_flag_kind;

/* A comma-separated list of integers. */
typedef struct cli_int_list {
    int n;
    int v[CLI_LIST_MAX];
} cli_int_list;

/* A real interval written LO:HI. */
typedef struct cli_range {
    double lo, hi;
} cli_range;

/* One flag of a command. The table is built per invocation (seen is written). */
typedef struct cli_flag {
    const char *name;            /* without the leading "--" */
    cli_flag_kind kind;
    const char *metavar;         /* shown in help and errors: "K", "DIR" */
    const char *help;            /* one line */
    const char *def;             /* default as shown in help, or NULL */
    double lo, hi;               /* bounds for INT, REAL, INT_LIST, RANGE */
    int lo_open;                 /* REAL/RANGE: non-zero means value > lo (not >=) */
    const char *const *choices;  /* CHOICE: NULL-terminated */
    void *target;
    int seen;                    /* set to 1 by cli_args_parse when given */
} cli_flag;

/* cli_args_parse: parse argv[0..argc) (the words after the command name) into the
 * targets of flags[0..nflags). `--help` or `-h` sets *want_help and stops parsing.
 * Returns 0 on success or CLI_EXIT_USAGE after printing one line
 * "convnet: <command>: <message>" to stderr. */
int cli_args_parse(cli_flag *flags, int nflags, int argc, char **argv, const char *command,
                   int *want_help);

/* cli_args_split: sort argv[0..argc) into flag words (a flag, plus the next word
 * when it is a non-boolean flag of the table written "--name value"), stored in
 * fl[0..*nfl), and the other words (a command's MODEL, files), stored in
 * pos[0..*npos); both arrays need room for argc. Reports nothing: a caller parses
 * fl with cli_args_parse first (so an unknown flag is named before the words are
 * counted), then checks *npos. */
void cli_args_split(cli_flag *flags, int nflags, int argc, char **argv, char **fl, int *nfl,
                    const char **pos, int *npos);

/* cli_args_parse_words: cli_args_split then cli_args_parse of the flag words: the
 * other words are returned in *pos (argv's strings; the array is cn_calloc'd, the
 * caller frees it with cn_free, also on error) and counted in *npos. Returns
 * CLI_EXIT_OK, CLI_EXIT_USAGE (message printed) or CLI_EXIT_RUNTIME (out of
 * memory; *pos NULL). */
int cli_args_parse_words(cli_flag *flags, int nflags, int argc, char **argv, const char *command,
                         int *want_help, const char ***pos, int *npos);

/* cli_args_find: the flag called name in flags, or NULL. */
cli_flag *cli_args_find(cli_flag *flags, int nflags, const char *name);

/* cli_args_help: print one line per flag (name, metavar, help, default) to f. */
void cli_args_help(FILE *f, const cli_flag *flags, int nflags);

/* cli_nearest: the string of cands[0..n) closest to s by edit distance (ties: the
 * first), or NULL when n == 0. */
const char *cli_nearest(const char *s, const char *const *cands, int n);

/* cli_usage_error: print "convnet: <command>: <printf message>" to stderr and
 * return CLI_EXIT_USAGE. command may be NULL. */
int cli_usage_error(const char *command, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* cli_runtime_error: the same with exit status CLI_EXIT_RUNTIME. */
int cli_runtime_error(const char *command, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif /* CONVNET_CLI_ARGS_H */
