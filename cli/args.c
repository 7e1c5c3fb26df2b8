/* cli/args.c: the strict flag parser of the convnet tool (see args.h): flag
 * lookup with a nearest-name suggestion, strict integer / real / list / range
 * parsing with full consumption and range checks, and help text. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/core.h"

static void vreport(const char *command, const char *fmt, va_list ap)
{
    fputs("convnet: ", stderr);
    if (command)
        fprintf(stderr, "%s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(command, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_runtime_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(command, fmt, ap);
    va_end(ap);
    return CLI_EXIT_RUNTIME;
}

/* Levenshtein distance, capped operands (flag names are short). */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXL = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXL)
        la = MAXL;
    if (lb > MAXL)
        lb = MAXL;
    int prev[MAXL + 1], cur[MAXL + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1;
            int ins = cur[j - 1] + 1;
            int m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *cli_nearest(const char *s, const char *const *cands, int n)
{
    const char *best = NULL;
    int bestd = 0;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(s, cands[i]);
        /* a candidate that starts with what was typed is a near miss too */
        if (strncmp(cands[i], s, strlen(s)) == 0 && s[0] != '\0' && d > 1)
            d = 1;
        if (!best || d < bestd) {
            best = cands[i];
            bestd = d;
        }
    }
    return best;
}

void cli_args_split(cli_flag *flags, int nflags, int argc, char **argv, char **fl, int *nfl,
                    const char **pos, int *npos)
{
    *nfl = *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            pos[(*npos)++] = a;
            continue;
        }
        fl[(*nfl)++] = argv[i];
        if (strncmp(a, "--", 2) != 0 || strchr(a, '=')) continue;
        cli_flag *f = cli_args_find(flags, nflags, a + 2);
        if (f && f->kind != CLI_FLAG_BOOL && i + 1 < argc) fl[(*nfl)++] = argv[++i];
    }
}

cli_flag *cli_args_find(cli_flag *flags, int nflags, const char *name)
{
    for (int i = 0; i < nflags; i++)
        if (strcmp(flags[i].name, name) == 0)
            return &flags[i];
    return NULL;
}

/* Strict base-10 integer: no spaces, whole string, fits in long. */
static int parse_long(const char *s, long *out)
{
    if (s[0] == '\0' || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* Strict finite real: no spaces, no hex, whole string, finite. */
static int parse_real(const char *s, double *out)
{
    if (s[0] == '\0' || strchr(s, 'x') || strchr(s, 'X'))
        return -1;
    if (!(s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static int in_range(const cli_flag *f, double v)
{
    if (f->lo_open ? !(v > f->lo) : !(v >= f->lo))
        return 0;
    return v <= f->hi;
}

/* "[1, 100000]" / "(0, 10]" for messages. */
static void range_str(const cli_flag *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s%.10g, %.10g]", f->lo_open ? "(" : "[", f->lo, f->hi);
}

static int set_int(const cli_flag *f, const char *cmd, const char *v, int *out)
{
    long x;
    char r[96];
    if (parse_long(v, &x) != 0)
        return cli_usage_error(cmd, "--%s expects an integer %s, got '%s'", f->name,
                               f->metavar, v);
    if ((double)x < f->lo || (double)x > f->hi) {
        range_str(f, r, sizeof r);
        return cli_usage_error(cmd, "--%s must be an integer in %s, got '%s'", f->name, r, v);
    }
    *out = (int)x;
    return 0;
}

static int set_real(const cli_flag *f, const char *cmd, const char *v, double *out)
{
    double x;
    char r[96];
    if (parse_real(v, &x) != 0)
        return cli_usage_error(cmd, "--%s expects a finite decimal number %s, got '%s'",
                               f->name, f->metavar, v);
    if (!in_range(f, x)) {
        range_str(f, r, sizeof r);
        return cli_usage_error(cmd, "--%s must be in %s, got '%s'", f->name, r, v);
    }
    *out = x;
    return 0;
}

static int set_choice(const cli_flag *f, const char *cmd, const char *v, const char **out)
{
    char list[256] = "";
    int n = 0;
    for (; f->choices[n]; n++) {
        if (strcmp(f->choices[n], v) == 0) {
            *out = f->choices[n];
            return 0;
        }
        if (n > 0)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, f->choices[n], sizeof list - strlen(list) - 1);
    }
    const char *near = cli_nearest(v, f->choices, n);
    return cli_usage_error(cmd, "--%s must be one of %s, got '%s' (did you mean '%s'?)",
                           f->name, list, v, near ? near : "");
}

static int set_list(const cli_flag *f, const char *cmd, const char *v, cli_int_list *out)
{
    char item[64];
    cli_int_list l;
    l.n = 0;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long x;
        if (len == 0 || len >= sizeof item)
            return cli_usage_error(cmd, "--%s expects a comma-separated list of integers "
                                        "%s, got '%s'", f->name, f->metavar, v);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_long(item, &x) != 0 || (double)x < f->lo || (double)x > f->hi) {
            char r[96];
            range_str(f, r, sizeof r);
            return cli_usage_error(cmd, "--%s: each entry must be an integer in %s, got '%s'",
                                   f->name, r, item);
        }
        if (l.n == CLI_LIST_MAX)
            return cli_usage_error(cmd, "--%s: at most %d entries", f->name, CLI_LIST_MAX);
        l.v[l.n++] = (int)x;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = l;
    return 0;
}

static int set_range(const cli_flag *f, const char *cmd, const char *v, cli_range *out)
{
    char a[64], b[64];
    const char *colon = strchr(v, ':');
    size_t la = colon ? (size_t)(colon - v) : 0;
    if (!colon || la == 0 || la >= sizeof a || strlen(colon + 1) >= sizeof b)
        return cli_usage_error(cmd, "--%s expects LO:HI, got '%s'", f->name, v);
    memcpy(a, v, la);
    a[la] = '\0';
    strcpy(b, colon + 1);
    double lo, hi;
    if (parse_real(a, &lo) != 0 || parse_real(b, &hi) != 0)
        return cli_usage_error(cmd, "--%s expects LO:HI with two finite numbers, got '%s'",
                               f->name, v);
    if (!in_range(f, lo) || !in_range(f, hi)) {
        char r[96];
        range_str(f, r, sizeof r);
        return cli_usage_error(cmd, "--%s: both ends must be in %s, got '%s'", f->name, r, v);
    }
    if (!(lo < hi))
        return cli_usage_error(cmd, "--%s: LO must be smaller than HI, got '%s'", f->name, v);
    out->lo = lo;
    out->hi = hi;
    return 0;
}

static int unknown_flag(cli_flag *flags, int nflags, const char *cmd, const char *name)
{
    const char *names[128];
    int n = nflags < 128 ? nflags : 128;
    for (int i = 0; i < n; i++)
        names[i] = flags[i].name;
    const char *near = cli_nearest(name, names, n);
    if (near)
        return cli_usage_error(cmd, "unknown flag '--%s' (did you mean '--%s'?); "
                                    "see 'convnet help %s'", name, near, cmd ? cmd : "");
    return cli_usage_error(cmd, "unknown flag '--%s'", name);
}

int cli_args_parse(cli_flag *flags, int nflags, int argc, char **argv, const char *command,
                   int *want_help)
{
    char name[128];
    *want_help = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *want_help = 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return cli_usage_error(command, "unexpected argument '%s' (flags start with "
                                            "'--'; see 'convnet help %s')", a,
                                   command ? command : "");
        const char *body = a + 2;
        const char *eq = strchr(body, '=');
        size_t len = eq ? (size_t)(eq - body) : strlen(body);
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, body, len);
        name[len] = '\0';
        cli_flag *f = cli_args_find(flags, nflags, name);
        if (!f)
            return unknown_flag(flags, nflags, command, name);
        const char *val = NULL;
        if (f->kind == CLI_FLAG_BOOL) {
            if (eq)
                return cli_usage_error(command, "--%s takes no value, got '%s'", f->name, a);
            if (f->target)
                *(int *)f->target = 1;
            f->seen = 1;
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_usage_error(command, "--%s needs a value %s", f->name, f->metavar);
            val = argv[++i];
            if (strncmp(val, "--", 2) == 0 && val[2] != '\0')
                return cli_usage_error(command, "--%s needs a value %s, got the flag '%s'",
                                       f->name, f->metavar, val);
        }
        int rc = 0;
        switch (f->kind) {
        case CLI_FLAG_INT: rc = set_int(f, command, val, (int *)f->target); break;
        case CLI_FLAG_REAL: rc = set_real(f, command, val, (double *)f->target); break;
        case CLI_FLAG_STRING:
            if (val[0] == '\0')
                rc = cli_usage_error(command, "--%s needs a non-empty %s", f->name, f->metavar);
            else
                *(const char **)f->target = val;
            break;
        case CLI_FLAG_CHOICE: rc = set_choice(f, command, val, (const char **)f->target); break;
        case CLI_FLAG_INT_LIST: rc = set_list(f, command, val, (cli_int_list *)f->target); break;
        case CLI_FLAG_RANGE: rc = set_range(f, command, val, (cli_range *)f->target); break;
        default: rc = cli_usage_error(command, "internal: bad flag kind for --%s", f->name);
        }
        if (rc != 0)
            return rc;
        f->seen = 1;
    }
    return 0;
}

void cli_args_help(FILE *f, const cli_flag *flags, int nflags)
{
    enum { COL = 26, WIDTH = 79 };
    for (int i = 0; i < nflags; i++) {
        char head[96];
        if (flags[i].kind == CLI_FLAG_BOOL)
            snprintf(head, sizeof head, "  --%s", flags[i].name);
        else
            snprintf(head, sizeof head, "  --%s %s", flags[i].name, flags[i].metavar);
        int col = fprintf(f, "%s", head);
        if (col >= COL - 1) {
            fputc('\n', f);
            col = 0;
        }
        col += fprintf(f, "%*s%s", COL - col, "", flags[i].help);
        if (flags[i].def) {
            int need = (int)strlen(flags[i].def) + 12;
            if (col + need > WIDTH)
                fprintf(f, "\n%*s", COL, "");
            fprintf(f, " (default: %s)", flags[i].def);
        }
        fputc('\n', f);
    }
}

int cli_args_parse_words(cli_flag *flags, int nflags, int argc, char **argv, const char *command,
                         int *want_help, const char ***pos, int *npos)
{
    *pos = NULL;
    *npos = 0;
    *want_help = 0;
    char **fl = cn_calloc((size_t)(argc > 0 ? argc : 1), sizeof *fl);        // (argc) flags
    const char **w = cn_calloc((size_t)(argc > 0 ? argc : 1), sizeof *w);    // (argc) words
    if (!fl || !w) {
        cn_free(fl);
        cn_free(w);
        return cli_runtime_error(command, "out of memory");
    }
    int nfl = 0;
    cli_args_split(flags, nflags, argc, argv, fl, &nfl, w, npos);
    int rc = cli_args_parse(flags, nflags, nfl, fl, command, want_help);
    cn_free(fl);
    *pos = w;
    return rc;
}
