/* model_text_keys.c: the attribute key table of the model text format (every
 * cn_attrs field by name), op-specific aliases (alpha, beta; out for the output
 * size of adaptive_avgpool2d) and required keys, edit distance,
 * and locale-independent reading and writing of reals. Read-only data only. */
#include <limits.h>
#include <locale.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_text_internal.h"

#define OFF(f) offsetof(cn_attrs, f)
#define NOMIN INT_MIN

/* the init sub-keys of one cn_init field F ("weight_init" or "bias_init") */
#define INIT_KEYS(F)                                                        \
    {#F, CN_MT_INIT, OFF(F.kind), 1, NOMIN},                                \
    {#F ".value", CN_MT_REAL, OFF(F.value), 1, NOMIN},                      \
    {#F ".mean", CN_MT_REAL, OFF(F.mean), 1, NOMIN},                        \
    {#F ".std", CN_MT_REAL, OFF(F.std), 1, NOMIN},                          \
    {#F ".low", CN_MT_REAL, OFF(F.low), 1, NOMIN},                          \
    {#F ".high", CN_MT_REAL, OFF(F.high), 1, NOMIN},                        \
    {#F ".gain", CN_MT_REAL, OFF(F.gain), 1, NOMIN},                        \
    {#F ".nonlinearity", CN_MT_GAIN, OFF(F.nonlinearity), 1, NOMIN},        \
    {#F ".neg_slope", CN_MT_REAL, OFF(F.neg_slope), 1, NOMIN},              \
    {#F ".fan_out", CN_MT_FLAG, OFF(F.fan_out), 1, NOMIN},                  \
    {#F ".sparsity", CN_MT_REAL, OFF(F.sparsity), 1, NOMIN},                \
    {#F ".nonzero", CN_MT_INT, OFF(F.nonzero), 1, 0},                       \
    {#F ".sparse_std", CN_MT_REAL, OFF(F.sparse_std), 1, NOMIN}

/* the table, in cn_attrs order (the printer writes keys in this order) */
static const cn_mt_key keys[] = {
    {"shape", CN_MT_SHAPE, OFF(shape), CN_MAX_DIMS, NOMIN},
    {"out", CN_MT_INT, OFF(out), 1, 1},
    {"k", CN_MT_IARR, OFF(k), 3, NOMIN},
    {"stride", CN_MT_IARR, OFF(stride), 3, NOMIN},
    {"pad", CN_MT_IARR, OFF(pad), 3, NOMIN},
    {"dil", CN_MT_IARR, OFF(dil), 3, NOMIN},
    {"out_pad", CN_MT_IARR, OFF(out_pad), 3, NOMIN},
    {"groups", CN_MT_INT, OFF(groups), 1, NOMIN},
    {"bias", CN_MT_FLAG, OFF(bias), 1, NOMIN},
    {"ceil_mode", CN_MT_FLAG, OFF(ceil_mode), 1, NOMIN},
    {"count_include_pad", CN_MT_FLAG, OFF(count_include_pad), 1, NOMIN},
    {"p", CN_MT_REAL, OFF(p), 1, NOMIN},
    {"eps", CN_MT_REAL, OFF(eps), 1, NOMIN},
    {"momentum", CN_MT_REAL, OFF(momentum), 1, NOMIN},
    {"affine", CN_MT_FLAG, OFF(affine), 1, NOMIN},
    {"track_stats", CN_MT_FLAG, OFF(track_stats), 1, NOMIN},
    {"slope", CN_MT_REAL, OFF(act.slope), 1, NOMIN},
    {"act.alpha", CN_MT_REAL, OFF(act.alpha), 1, NOMIN},
    {"lower", CN_MT_REAL, OFF(act.lower), 1, NOMIN},
    {"upper", CN_MT_REAL, OFF(act.upper), 1, NOMIN},
    {"act.beta", CN_MT_REAL, OFF(act.beta), 1, NOMIN},
    {"threshold", CN_MT_REAL, OFF(act.threshold), 1, NOMIN},
    {"prelu_channels", CN_MT_FLAG, OFF(act.prelu_channels), 1, NOMIN},
    {"gelu_tanh", CN_MT_FLAG, OFF(act.gelu_tanh), 1, NOMIN},
    {"pieces", CN_MT_INT, OFF(pieces), 1, 1},
    {"size", CN_MT_INT, OFF(size), 1, 1},
    {"lrn.alpha", CN_MT_REAL, OFF(alpha), 1, NOMIN},
    {"lrn.beta", CN_MT_REAL, OFF(beta), 1, NOMIN},
    {"lrn_k", CN_MT_REAL, OFF(lrn_k), 1, NOMIN},
    {"axis", CN_MT_INT, OFF(axis), 1, NOMIN},
    {"start", CN_MT_INT, OFF(start), 1, NOMIN},
    {"count", CN_MT_INT, OFF(count), 1, NOMIN},
    {"pads", CN_MT_IARR, OFF(pads), 4, NOMIN},
    {"value", CN_MT_REAL, OFF(value), 1, NOMIN},
    {"mode", CN_MT_MODE, OFF(mode), 1, NOMIN},
    {"align_corners", CN_MT_FLAG, OFF(align_corners), 1, NOMIN},
    {"scale", CN_MT_RARR, OFF(scale), 2, NOMIN},
    {"size_hw", CN_MT_IARR, OFF(size_hw), 2, NOMIN},
    {"weight", CN_MT_REAL, OFF(weight), 1, NOMIN},
    {"smoothing", CN_MT_REAL, OFF(smoothing), 1, NOMIN},
    {"class_weights", CN_MT_CW, OFF(class_weights), 1, NOMIN},
    {"margin", CN_MT_REAL, OFF(margin), 1, NOMIN},
    {"squared", CN_MT_FLAG, OFF(squared), 1, NOMIN},
    {"cap", CN_MT_REAL, OFF(cap), 1, NOMIN},
    {"delta", CN_MT_REAL, OFF(delta), 1, NOMIN},
    {"m", CN_MT_INT, OFF(m), 1, NOMIN},
    {"lambda", CN_MT_REAL, OFF(lambda), 1, NOMIN},
    INIT_KEYS(weight_init),
    INIT_KEYS(bias_init),
};

const cn_mt_key *cn_mt_keys(int *count)
{
    if (count) *count = (int)(sizeof keys / sizeof keys[0]);
    return keys;
}

static int index_of(const char *name)
{
    for (int i = 0; i < (int)(sizeof keys / sizeof keys[0]); i++)
        if (strcmp(keys[i].name, name) == 0) return i;
    return -1;
}

int cn_mt_key_find(const char *name, cn_op_kind op)
{
    if (strcmp(name, "alpha") == 0) return index_of(op == CN_OP_ELU ? "act.alpha" : "lrn.alpha");
    if (strcmp(name, "beta") == 0)
        return index_of(op == CN_OP_SOFTPLUS ? "act.beta" : "lrn.beta");
    if (op == CN_OP_ADAPTIVE_AVGPOOL2D) {
        /* out is the output size there; the unused integer field is out.int */
        if (strcmp(name, "out") == 0) return index_of("size_hw");
        if (strcmp(name, "out.int") == 0) return index_of("out");
    }
    return index_of(name);
}

const char *cn_mt_key_name(int i, cn_op_kind op)
{
    const char *nm = keys[i].name;
    if ((strcmp(nm, "act.alpha") == 0 && op == CN_OP_ELU) ||
        (strcmp(nm, "lrn.alpha") == 0 && op != CN_OP_ELU))
        return "alpha";
    if ((strcmp(nm, "act.beta") == 0 && op == CN_OP_SOFTPLUS) ||
        (strcmp(nm, "lrn.beta") == 0 && op != CN_OP_SOFTPLUS))
        return "beta";
    if (op == CN_OP_ADAPTIVE_AVGPOOL2D && strcmp(nm, "size_hw") == 0) return "out";
    if (op == CN_OP_ADAPTIVE_AVGPOOL2D && strcmp(nm, "out") == 0) return "out.int";
    return nm;
}

int cn_mt_required(int i, cn_op_kind op)
{
    const char *nm = keys[i].name;
    switch (op) {
    case CN_OP_INPUT: case CN_OP_RESHAPE: return strcmp(nm, "shape") == 0;
    case CN_OP_LINEAR: case CN_OP_LSOFTMAX: case CN_OP_CENTER: return strcmp(nm, "out") == 0;
    case CN_OP_CONV1D: case CN_OP_CONV2D: case CN_OP_CONV3D: case CN_OP_CONV_TRANSPOSE2D:
        return strcmp(nm, "out") == 0 || strcmp(nm, "k") == 0;
    case CN_OP_SLICE: return strcmp(nm, "count") == 0;
    case CN_OP_ADAPTIVE_AVGPOOL2D: return strcmp(nm, "size_hw") == 0;
    default: return 0;
    }
}

int cn_mt_edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int prev[64], cur[64];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

const char *cn_mt_nearest_key(const char *name)
{
    const char *best = keys[0].name;
    int best_d = INT_MAX;
    for (int i = 0; i < (int)(sizeof keys / sizeof keys[0]); i++) {
        int d = cn_mt_edit_distance(name, keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = keys[i].name;
        }
    }
    return best;
}

/* the process locale's decimal point ("." in the C locale) */
static const char *decimal_point(void)
{
    const struct lconv *lc = localeconv();
    return (lc && lc->decimal_point && lc->decimal_point[0]) ? lc->decimal_point : ".";
}

int cn_mt_strtod(const char *s, size_t n, double *out)
{
    char buf[400];
    const char *dp = decimal_point();
    size_t dl = strlen(dp), j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j + dl + 1 >= sizeof buf) return -1;
        if (s[i] == '.') {
            memcpy(buf + j, dp, dl);
            j += dl;
        } else {
            buf[j++] = s[i];
        }
    }
    buf[j] = 0;
    *out = strtod(buf, NULL);
    return 0;
}

void cn_mt_format_real(double v, char *buf, size_t size)
{
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        double back;
        /* swap the locale's decimal point for '.' */
        const char *dp = decimal_point();
        char *q = strstr(tmp, dp);
        if (q && strcmp(dp, ".") != 0) {
            size_t dl = strlen(dp);
            *q = '.';
            memmove(q + 1, q + dl, strlen(q + dl) + 1);
        }
        if (cn_mt_strtod(tmp, strlen(tmp), &back) == 0 && back == v) break;
    }
    snprintf(buf, size, "%s", tmp);
}
