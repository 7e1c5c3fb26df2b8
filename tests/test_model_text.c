/* test_model_text.c: the model text format (docs/model-format.md): parsing
 * (nodes, attributes, lists, enumerations, params and overrides, blocks with
 * params and repeat), errors with path:line:col and nearest-name suggestions, the
 * RELIABILITY.md rows T1-T15 (empty file, stray key=value, malformed statements,
 * unknown names, missing and duplicate keys, strict numbers, bad sizes, overflow,
 * undefined references, long lines / NUL / non-UTF-8, CRLF / BOM / tabs, 10,000
 * nodes, locale, parse -> print -> parse), and the file loader. */
#include <criterion/criterion.h>

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/model_text.h"
#include "support.h"

static cn_model *parse_s(const char *s, cn_error *err)
{
    return cn_model_parse(s, strlen(s), "t.cnm", NULL, err);
}

/* expect_err: parsing s fails with code and a message containing each of the
 * NULL-terminated fragments */
static void expect_err(const char *s, cn_status code, ...)
{
    cn_error err;
    cn_model *m = parse_s(s, &err);
    cr_assert_null(m, "parsed: %s", s);
    cr_assert_eq(err.code, code, "code %d for: %s (%s)", err.code, s, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *f = va_arg(ap, const char *); f; f = va_arg(ap, const char *))
        cr_assert(strstr(err.msg, f) != NULL, "'%s' not in '%s'", f, err.msg);
    va_end(ap);
}

static int node(const cn_model *m, const char *name)
{
    int id = cn_model_find(m, name);
    cr_assert_geq(id, 0, "no node %s", name);
    return id;
}

/* same_attrs: every cn_attrs field equal */
static void same_attrs(const cn_attrs *a, const cn_attrs *b, const char *nm)
{
#define EQ(f) cr_assert(a->f == b->f, "node %s: field " #f " differs", nm)
#define EQN(f, n) \
    for (int i_ = 0; i_ < (n); i_++) cr_assert(a->f[i_] == b->f[i_], "node %s: " #f "[%d]", nm, i_)
#define EQI(f) EQ(f.kind); EQ(f.value); EQ(f.mean); EQ(f.std); EQ(f.low); EQ(f.high); \
    EQ(f.gain); EQ(f.nonlinearity); EQ(f.neg_slope); EQ(f.fan_out); EQ(f.sparsity); \
    EQ(f.nonzero); EQ(f.sparse_std)
    EQ(ndim); EQN(shape, CN_MAX_DIMS); EQ(out); EQN(k, 3); EQN(stride, 3); EQN(pad, 3);
    EQN(dil, 3); EQN(out_pad, 3); EQ(groups); EQ(bias); EQ(ceil_mode); EQ(count_include_pad);
    EQ(p); EQ(eps); EQ(momentum); EQ(affine); EQ(track_stats); EQ(act.slope); EQ(act.alpha);
    EQ(act.lower); EQ(act.upper); EQ(act.beta); EQ(act.threshold); EQ(act.prelu_channels);
    EQ(act.gelu_tanh); EQ(pieces); EQ(size); EQ(alpha); EQ(beta); EQ(lrn_k); EQ(axis);
    EQ(start); EQ(count); EQN(pads, 4); EQ(value); EQ(mode); EQ(align_corners);
    EQN(scale, 2); EQN(size_hw, 2); EQ(weight); EQ(smoothing); EQ(n_class_weights);
    EQN(class_weights, a->n_class_weights); EQ(margin); EQ(squared); EQ(cap); EQ(delta);
    EQ(m); EQ(lambda); EQI(weight_init); EQI(bias_init);
#undef EQ
#undef EQN
#undef EQI
}

static void same_model(const cn_model *a, const cn_model *b)
{
    int n = cn_model_num_nodes(a);
    cr_assert_eq(n, cn_model_num_nodes(b));
    for (int i = 0; i < n; i++) {
        const char *nm = cn_model_node_name(a, i);
        cr_assert_str_eq(nm, cn_model_node_name(b, i));
        cr_assert_eq(cn_model_node_op(a, i), cn_model_node_op(b, i), "node %s", nm);
        int na, nb;
        const int *ia = cn_model_node_inputs(a, i, &na), *ib = cn_model_node_inputs(b, i, &nb);
        cr_assert_eq(na, nb, "node %s", nm);
        for (int j = 0; j < na; j++) cr_assert_eq(ia[j], ib[j], "node %s input %d", nm, j);
        same_attrs(cn_model_node_attrs(a, i), cn_model_node_attrs(b, i), nm);
    }
    cr_assert_eq(cn_model_output(a), cn_model_output(b));
}

/* roundtrip: print m, parse the text, compare; print again gives the same text */
static void roundtrip(const cn_model *m)
{
    cn_error err;
    char *t1 = cn_model_print(m, &err);
    cr_assert_not_null(t1, "%s", err.msg);
    cn_model *m2 = cn_model_parse(t1, strlen(t1), "printed", NULL, &err);
    cr_assert_not_null(m2, "%s\n%s", err.msg, t1);
    same_model(m, m2);
    char *t2 = cn_model_print(m2, &err);
    cr_assert_not_null(t2);
    cr_assert_str_eq(t1, t2);
    cn_free(t1);
    cn_free(t2);
    cn_model_free(m2);
}

static cn_status compile1(cn_model *m, cn_error *err)
{
    cn_compile_opts co = {.batch = 1};
    return cn_model_compile(m, &co, err);
}

static const char *LENET =
    "# LeNet-5\n"
    "model lenet5\n"
    "param classes = 10\n"
    "param c = 1\n"
    "param h = 28\n"
    "param w = h\n"
    "x    = input shape=(c, h, w)\n"
    "c1   = conv2d x out=6 k=5 pad=2\n"
    "a1   = tanh c1\n"
    "s2   = avgpool2d a1 k=2 stride=2\n"
    "c3   = conv2d s2 out=16 k=5\n"
    "a3   = tanh c3\n"
    "s4   = avgpool2d a3 k=2 stride=2\n"
    "f    = flatten s4\n"
    "fc5  = linear f out=120 * 1\n"
    "a5   = tanh fc5\n"
    "fc6  = linear a5 out=(classes + 2) // 3 * 3 + 72   # 84 for 10 classes\n"
    "fc3  = linear fc6 out=classes\n"
    "loss = cross_entropy fc3\n"
    "output fc3\n";

static const char *RESNET =
    "param classes = 10\n"
    "block basic(out, stride = 1) {\n"
    "    a  = conv2d in out=out k=3 stride=stride pad=1 bias=0\n"
    "    an = batchnorm a\n"
    "    ar = relu an\n"
    "    b  = conv2d ar out=out k=3 pad=1 bias=0\n"
    "    bn = batchnorm b\n"
    "    s  = add bn, in\n"
    "    out = relu s\n"
    "}\n"
    "block branch(c) {\n"
    "  p = conv2d in out=c k=1\n"
    "  q = conv2d in out=c k=(3, 1) pad=(1, 0)\n"
    "  cat = concat p, q\n"
    "}\n"
    "x  = input shape=(3, 8, 8)\n"
    "x0 = conv2d x out=8 k=3 pad=1\n"
    "l1 = basic x0 out=8 repeat=2\n"
    "br = branch l1 c=4\n"
    "g  = global_avgpool br\n"
    "fc = linear g out=classes\n"
    "loss = cross_entropy fc\n"
    "output fc\n";

Test(model_text, lenet_nodes_attrs_params_and_output)
{
    cn_error err;
    cn_model *m = parse_s(LENET, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_num_nodes(m), 13);
    const cn_attrs *x = cn_model_node_attrs(m, node(m, "x"));
    cr_assert_eq(x->ndim, 3);
    cr_assert(x->shape[0] == 1 && x->shape[1] == 28 && x->shape[2] == 28);
    const cn_attrs *c1 = cn_model_node_attrs(m, node(m, "c1"));
    cr_assert_eq(cn_model_node_op(m, node(m, "c1")), CN_OP_CONV2D);
    cr_assert(c1->out == 6 && c1->k[0] == 5 && c1->k[1] == 5 && c1->pad[0] == 2 && c1->pad[1] == 2);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "fc6"))->out, 84);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "fc3"))->out, 10);
    cr_assert_eq(cn_model_output(m), node(m, "fc3"));
    int n;
    const int *in = cn_model_node_inputs(m, node(m, "loss"), &n);
    cr_assert(n == 1 && in[0] == node(m, "fc3"));
    cr_assert_eq(compile1(m, &err), CN_OK, "%s", err.msg);
    roundtrip(m);
    cn_model_free(m);
}

Test(model_text, overrides_replace_param_defaults)
{
    const char *ov[] = {"classes=100", " h = 32 "};
    cn_model_text_opts o = {.overrides = ov, .n_overrides = 2};
    cn_error err;
    cn_model *m = cn_model_parse(LENET, strlen(LENET), "t.cnm", &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "fc3"))->out, 100);
    const cn_attrs *x = cn_model_node_attrs(m, node(m, "x"));
    cr_assert(x->shape[1] == 32 && x->shape[2] == 32); /* w = h follows */
    cn_model_free(m);
    const char *bad[] = {"clases=5"};
    cn_model_text_opts o2 = {.overrides = bad, .n_overrides = 1};
    cr_assert_null(cn_model_parse(LENET, strlen(LENET), "t.cnm", &o2, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
    cr_assert(strstr(err.msg, "no param 'clases'") && strstr(err.msg, "did you mean 'classes'"),
              "%s", err.msg);
    const char *junk[] = {"classes=1x"};
    cn_model_text_opts o3 = {.overrides = junk, .n_overrides = 1};
    cr_assert_null(cn_model_parse(LENET, strlen(LENET), "t.cnm", &o3, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
}

Test(model_text, residual_block_repeat_and_concat_branches)
{
    cn_error err;
    cn_model *m = parse_s(RESNET, &err);
    cr_assert_not_null(m, "%s", err.msg);
    /* 2 + 2 * 7 + 3 + 3 nodes */
    cr_assert_eq(cn_model_num_nodes(m), 22);
    int a1 = node(m, "l1.1.a"), a2 = node(m, "l1.2.a");
    int n;
    const int *in = cn_model_node_inputs(m, a1, &n);
    cr_assert(n == 1 && in[0] == node(m, "x0"));
    in = cn_model_node_inputs(m, a2, &n);
    cr_assert(n == 1 && in[0] == node(m, "l1.1.out")); /* copy 2 reads copy 1's out */
    in = cn_model_node_inputs(m, node(m, "l1.2.s"), &n);
    cr_assert(n == 2 && in[0] == node(m, "l1.2.bn") && in[1] == node(m, "l1.1.out"));
    cr_assert_eq(cn_model_node_attrs(m, a1)->bias, 0);
    cr_assert_eq(cn_model_node_attrs(m, a1)->out, 8);
    /* the instance name is its last output; the last node is the output without `out` */
    in = cn_model_node_inputs(m, node(m, "br.p"), &n);
    cr_assert(n == 1 && in[0] == node(m, "l1.2.out"));
    in = cn_model_node_inputs(m, node(m, "g"), &n);
    cr_assert(n == 1 && in[0] == node(m, "br.cat"));
    const cn_attrs *q = cn_model_node_attrs(m, node(m, "br.q"));
    cr_assert(q->k[0] == 3 && q->k[1] == 1 && q->pad[0] == 1 && q->pad[1] == 0);
    cr_assert_eq(compile1(m, &err), CN_OK, "%s", err.msg);
    int nd, sh[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, node(m, "br.cat"), &nd, sh, &err), CN_OK);
    cr_assert(nd == 3 && sh[0] == 8 && sh[1] == 8 && sh[2] == 8);
    roundtrip(m);
    cn_model_free(m);
}

Test(model_text, block_errors)
{
    expect_err("block b(o) {\n y = relu in\n}\nx = input shape=3\nz = b x\n", CN_ERR_FORMAT,
               "t.cnm:5:", "block 'b' needs param 'o'", NULL);
    expect_err("block b(o) {\n y = relu in\n}\nx = input shape=3\nz = b x o=1 rpeat=2\n",
               CN_ERR_FORMAT, "t.cnm:5:13:", "no param 'rpeat'", "did you mean 'repeat'", NULL);
    expect_err("block b() {\n y = relu in\n}\nx = input shape=3\nz = b x repeat=0\n",
               CN_ERR_FORMAT, "'repeat' must be >= 1", NULL);
    expect_err("x = input shape=3\nblock b() {\n y = relu x\n}\nz = b x\n", CN_ERR_FORMAT,
               "t.cnm:3:", "undefined node 'x'", NULL);
    expect_err("block b() {\n y = relu in\n", CN_ERR_FORMAT, "t.cnm:1:", "no closing '}'", NULL);
    expect_err("block b() {\n}\n", CN_ERR_FORMAT, "has no nodes", NULL);
    expect_err("block relu() {\n y = relu in\n}\n", CN_ERR_FORMAT, "name of an op", NULL);
    expect_err("x = input shape=3\n}\n", CN_ERR_FORMAT, "t.cnm:2:1:", "without a block", NULL);
    expect_err("block b() {\n y = relu in\n}\nx = input shape=3\nz = b\n", CN_ERR_FORMAT,
               "takes 1 input, got 0", NULL);
    expect_err("block b() {\n y = relu in\n}\nx = input shape=3\nz = bb x\n", CN_ERR_FORMAT,
               "unknown op 'bb'", "did you mean 'b'", NULL);
}

Test(model_text, t1_empty_and_comment_only)
{
    expect_err("", CN_ERR_FORMAT, "t.cnm", "no layers", NULL);
    expect_err("# only a comment\n\n   \n\t# another\nparam a = 1\n", CN_ERR_FORMAT, "no layers",
               NULL);
}

Test(model_text, t2_t3_stray_and_malformed_statements)
{
    expect_err("out=5\n", CN_ERR_FORMAT, "t.cnm:1:5:", "key=value belongs after the op", NULL);
    expect_err("x = input shape=3\n  stride=2\n", CN_ERR_FORMAT, "t.cnm:2:", "key=value", NULL);
    expect_err("x = input shape=3\ny =\n", CN_ERR_FORMAT, "t.cnm:2:", "expected an op", NULL);
    expect_err("x = input shape=3\n= relu x\n", CN_ERR_FORMAT, "t.cnm:2:1:", "expected a statement",
               NULL);
    expect_err("x = input shape=3\ny = linear x out=\n", CN_ERR_FORMAT, "t.cnm:2:18:",
               "expected a value", NULL);
    expect_err("x = input shape=3\ny relu x\n", CN_ERR_FORMAT, "t.cnm:2:1:", "expected '='", NULL);
    expect_err("x = input shape=3\ny\n", CN_ERR_FORMAT, "'y' alone", NULL);
    expect_err("x = input shape=3\ny = relu x,\n", CN_ERR_FORMAT, "expected a node name", NULL);
    expect_err("x = input shape=3\ny = relu x )\n", CN_ERR_FORMAT, "t.cnm:2:12:", "found ')'",
               NULL);
    expect_err("x = input shape=(3, 4\n", CN_ERR_FORMAT, "expected ')'", NULL);
    expect_err("x = input shape=3\nmodel late\n", CN_ERR_FORMAT, "first statement", NULL);
    expect_err("x = input shape=3\noutput nope\n", CN_ERR_FORMAT, "undefined node 'nope'", NULL);
}

Test(model_text, t4_unknown_op_and_attribute_suggest_nearest)
{
    expect_err("x = input shape=(1, 8, 8)\nc = conv2 x out=4 k=3\n", CN_ERR_FORMAT, "t.cnm:2:5:",
               "unknown op 'conv2'", "did you mean 'conv2d'", NULL);
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=4 k=3 strid=2\n", CN_ERR_FORMAT,
               "t.cnm:2:24:", "unknown attribute 'strid' for conv2d", "did you mean 'stride'",
               NULL);
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x filters=4 k=3\n", CN_ERR_FORMAT,
               "unknown attribute 'filters'", "did you mean", NULL);
    expect_err("x = input shape=(1, 8, 8)\nu = upsample x mode=bicubic\n", CN_ERR_FORMAT,
               "unknown mode 'bicubic'", NULL);
    expect_err("x = input shape=4\nl = linear x out=2 weight_init=xavier_norml\n", CN_ERR_FORMAT,
               "t.cnm:2:", "xavier_normal", NULL);
    expect_err("x = input shape=4\nl = linear x out=2 weight_init.nonlinearity=rlu\n",
               CN_ERR_FORMAT, "relu", NULL);
}

Test(model_text, t5_missing_required_attributes)
{
    expect_err("x = input shape=4\nfc = linear x\n", CN_ERR_FORMAT, "t.cnm:2:6:",
               "linear 'fc' needs 'out'", NULL);
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=3\n", CN_ERR_FORMAT,
               "conv2d 'c' needs 'k'", NULL);
    expect_err("x = input\n", CN_ERR_FORMAT, "input 'x' needs 'shape'", NULL);
    expect_err("x = input shape=4\ns = slice x start=1\n", CN_ERR_FORMAT, "needs 'count'", NULL);
}

Test(model_text, t6_duplicate_keys_are_errors)
{
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=4 k=3 k=5\n", CN_ERR_FORMAT,
               "t.cnm:2:24:", "duplicate key 'k'", NULL);
    expect_err("x = input shape=(1, 8, 8)\nl = lrn x alpha=1 lrn.alpha=2\n", CN_ERR_FORMAT,
               "duplicate key 'lrn.alpha'", NULL);
    expect_err("x = input shape=3\nx = relu x\n", CN_ERR_FORMAT, "t.cnm:2:1:",
               "node 'x' is already defined", NULL);
    expect_err("param a = 1\nparam a = 2\n", CN_ERR_FORMAT, "param 'a' is already defined", NULL);
}

Test(model_text, t7_strict_numbers)
{
    const char *pre = "x = input shape=4\n";
    static const struct {
        const char *v, *msg;
    } bad[] = {
        {"abc", "unknown param 'abc'"}, {"3x3", "bad number '3x3'"}, {"\"\"", "expected a value"},
        {"0x10", "bad number '0x10'"}, {"99999999999", "out of range"}, {"-1", "must be >= 1"},
        {"1.5", "needs an integer"}, {"1e999", "out of range"}, {"12abc", "bad number"},
        {"1.2.3", "bad number"}, {"1e", "bad number"}, {"", "expected a value"},
        {"2/0", "division by zero"},
        {"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
         "nested too deeply"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%sfc = linear x out=%s\n", pre, bad[i].v);
        expect_err(buf, CN_ERR_FORMAT, "t.cnm:2:", bad[i].msg, NULL);
    }
    cn_error err;
    cn_model *m = parse_s("x = input shape=4\nfc = linear x out=  12  \nd = dropout fc p=.25\n"
                          "e = dropout d p=2.5e-1\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "fc"))->out, 12);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "d"))->p, 0.25);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "e"))->p, 0.25);
    cn_model_free(m);
    /* 1e9 is a valid integer: the size is the compiler's business (T9) */
    m = parse_s("x = input shape=4\nfc = linear x out=1e9\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "fc"))->out, 1000000000);
    cn_model_free(m);
    expect_err("x = input shape=4\nfc = linear x out=2 bias=2\n", CN_ERR_FORMAT,
               "'bias' must be 0 or 1", NULL);
}

Test(model_text, t8_bad_sizes_name_the_node)
{
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=0 k=3\n", CN_ERR_FORMAT,
               "t.cnm:2:", "'out' must be >= 1", NULL);
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=2 k=0\n", CN_ERR_FORMAT,
               "t.cnm:2:1:", "node 'c'", NULL);
    expect_err("x = input shape=(1, 8, 8)\nc = conv2d x out=2 k=3 stride=-1\n", CN_ERR_FORMAT,
               "node 'c'", NULL);
    expect_err("x = input shape=(1, 0, 8)\n", CN_ERR_FORMAT, "'shape' entries must be >= 1", NULL);
    cn_error err;
    cn_model *m = parse_s("x = input shape=(1, 4, 4)\nbig = conv2d x out=2 k=7\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_neq(compile1(m, &err), CN_OK);
    cr_assert(strstr(err.msg, "big") != NULL, "%s", err.msg);
    cn_model_free(m);
    m = parse_s("x = input shape=(1, 4, 4)\np = maxpool2d x k=2 stride=8\nq = maxpool2d p k=2\n",
                &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_neq(compile1(m, &err), CN_OK);
    cr_assert(strstr(err.msg, "'q'") != NULL, "%s", err.msg);
    cn_model_free(m);
}

Test(model_text, t9_overflow_is_refused_before_allocation)
{
    cn_error err;
    cn_model *m = parse_s("x = input shape=(100000, 100000, 100000)\nf = flatten x\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_neq(compile1(m, &err), CN_OK);
    cn_model_free(m);
    m = parse_s("x = input shape=100000\nfc = linear x out=2000000000\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_neq(compile1(m, &err), CN_OK);
    cr_assert(strstr(err.msg, "fc") != NULL, "%s", err.msg);
    cn_model_free(m);
}

Test(model_text, t10_undefined_forward_and_self_references)
{
    expect_err("x = input shape=3\ny = relu z\nz = relu x\n", CN_ERR_FORMAT, "t.cnm:2:10:",
               "undefined node 'z'", NULL);
    expect_err("x = input shape=3\ny = relu y\n", CN_ERR_FORMAT, "undefined node 'y'", NULL);
    expect_err("x = input shape=3\ny = relu xx\n", CN_ERR_FORMAT, "undefined node 'xx'",
               "did you mean 'x'", NULL);
    expect_err("x = input shape=3\ny = add x, w\n", CN_ERR_FORMAT, "t.cnm:2:12:",
               "undefined node 'w'", NULL);
    expect_err("x = input shape=3\nl = mse x\ny = relu l\n", CN_ERR_FORMAT, "t.cnm:3:",
               "is the loss 'l'", NULL);
}

Test(model_text, t11_long_line_nul_and_invalid_utf8)
{
    size_t n = (size_t)1 << 20;
    char *big = malloc(n + 64);
    cr_assert_not_null(big);
    strcpy(big, "x = input shape=3\n# ");
    size_t h = strlen(big);
    memset(big + h, 'a', n);
    big[h + n] = '\n';
    cn_error err;
    cr_assert_null(cn_model_parse(big, h + n + 1, "t.cnm", NULL, &err));
    cr_assert(strstr(err.msg, "t.cnm:2:1:") && strstr(err.msg, "line of"), "%s", err.msg);
    free(big);
    static const char nul[] = "x = input shape=3\ny = re\0lu x\n";
    cr_assert_null(cn_model_parse(nul, sizeof nul - 1, "t.cnm", NULL, &err));
    cr_assert(strstr(err.msg, "t.cnm:2:7: NUL byte"), "%s", err.msg);
    expect_err("x = input shape=3\ny = relu x # \xff\xfe\n", CN_ERR_FORMAT, "t.cnm:2:14:",
               "invalid UTF-8", NULL);
    expect_err("x = input shape=3\ny = relu x # \xc3\n", CN_ERR_FORMAT, "invalid UTF-8", NULL);
    expect_err("x = input shape=3\n\xc3\xa9 = relu x\n", CN_ERR_FORMAT, "t.cnm:2:1:",
               "non-ASCII", NULL);
    cn_model *m = parse_s("x = input shape=3 # caf\xc3\xa9 \xe6\x97\xa5\n", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_model_free(m);
}

Test(model_text, t12_crlf_bom_tabs_and_no_final_newline_are_identical)
{
    const char *lf = "x = input shape=(1, 4, 4)\nc = conv2d x out=2 k=3 pad=1\n"
                     "r = relu c\noutput r\n";
    const char *crlf = "\xEF\xBB\xBFx\t=\tinput shape=(1,4,4)\r\n"
                       "c = conv2d\tx out = 2 k= 3 pad =1\r\n"
                       "\tr = relu c\t# comment\r\noutput r";
    cn_error err;
    cn_model *a = parse_s(lf, &err), *b = parse_s(crlf, &err);
    cr_assert_not_null(a);
    cr_assert_not_null(b, "%s", err.msg);
    same_model(a, b);
    char *ta = cn_model_print(a, &err), *tb = cn_model_print(b, &err);
    cr_assert_str_eq(ta, tb);
    cn_free(ta);
    cn_free(tb);
    cn_model_free(a);
    cn_model_free(b);
    /* the same error position with CRLF and a BOM */
    expect_err("\xEF\xBB\xBFx = input shape=3\r\ny = relu q\r\n", CN_ERR_FORMAT, "t.cnm:2:10:",
               NULL);
}

Test(model_text, t13_ten_thousand_nodes_and_the_node_limit)
{
    size_t cap = 10001 * 40;
    char *t = malloc(cap);
    cr_assert_not_null(t);
    size_t n = (size_t)snprintf(t, cap, "n0 = input shape=4\n");
    for (int i = 1; i < 10000; i++)
        n += (size_t)snprintf(t + n, cap - n, "n%d = relu n%d\n", i, i - 1);
    cn_error err;
    cn_model *m = cn_model_parse(t, n, "t.cnm", NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_num_nodes(m), 10000);
    cn_model_free(m);
    cn_model_text_opts o = {.max_nodes = 100};
    cr_assert_null(cn_model_parse(t, n, "t.cnm", &o, &err));
    cr_assert(strstr(err.msg, "t.cnm:101:1: too many nodes (limit 100)"), "%s", err.msg);
    free(t);
    /* blocks multiply: the limit holds inside instances too */
    const char *bomb = "block a() {\n y = relu in\n}\nblock b() {\n z = a in repeat=1000\n}\n"
                       "x = input shape=1\nw = b x repeat=1000\n";
    cr_assert_null(cn_model_parse(bomb, strlen(bomb), "t.cnm", &o, &err));
    cr_assert(strstr(err.msg, "too many nodes"), "%s", err.msg);
}

Test(model_text, t14_numbers_ignore_the_locale)
{
    const char *t = "x = input shape=4\nd = dropout x p=0.001\nl = leaky_relu d slope=1.5e-3\n";
    int have = setlocale(LC_ALL, "de_DE.UTF-8") != NULL;
    if (!have) have = setlocale(LC_ALL, "de_DE.utf8") != NULL;
    cn_error err;
    cn_model *m = parse_s(t, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "d"))->p, 0.001);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "l"))->act.slope, 1.5e-3);
    char *p = cn_model_print(m, &err);
    cr_assert_not_null(p);
    cr_assert(strstr(p, "p=0.001") && strstr(p, "slope=0.0015"), "%s", p);
    roundtrip(m);
    cn_free(p);
    cn_model_free(m);
    setlocale(LC_ALL, "C");
    if (!have) cr_log_info("de_DE locale missing: checked in the C locale only");
}

/* every op at least once (nodes need not compile: parse and print only) */
static const char *EVERY_OP =
    "x  = input shape=(4, 8, 8)\n"
    "v  = input shape=16\n"
    "s1 = input shape=(4, 8)\n"
    "s3 = input shape=(4, 4, 4, 4)\n"
    "li = linear v out=6 bias=0 p=0.25 weight_init=normal weight_init.std=0.02 "
    "bias_init=constant bias_init.value=0.1\n"
    "c1 = conv1d s1 out=3 k=3 stride=2 pad=1 dil=2\n"
    "c2 = conv2d x out=8 k=(3, 5) stride=(1, 2) pad=(1, 2) groups=2 weight_init=kaiming_uniform "
    "weight_init.nonlinearity=relu weight_init.fan_out=1 weight_init.neg_slope=0.2\n"
    "c3 = conv3d s3 out=2 k=(1, 2, 3)\n"
    "ct = conv_transpose2d x out=2 k=4 stride=2 pad=1 out_pad=1\n"
    "mp = maxpool2d x k=3 stride=2 pad=1 ceil_mode=1 dil=2\n"
    "ap = avgpool2d x count_include_pad=0\n"
    "ga = global_avgpool x\n"
    "gm = global_maxpool x\n"
    "aa = adaptive_avgpool2d x out=(3, 2)\n"
    "mu = maxunpool2d mp, mp k=3 stride=2 pad=1\n"
    "up = upsample x mode=bilinear align_corners=1 scale=(1.5, 2.25)\n"
    "us = upsample x scale=0 size_hw=(5, 7)\n"
    "bn = batchnorm x eps=1e-3 momentum=0.01 affine=0\n"
    "ln = layernorm x eps=1e-6\n"
    "gn = groupnorm x groups=2\n"
    "in = instancenorm x track_stats=1\n"
    "lr = lrn x size=3 alpha=2e-4 beta=0.5 lrn_k=2\n"
    "dr = dropout x p=0.3\n"
    "d2 = dropout2d x p=0.1\n"
    "dpa = drop_path x p=0.2\n"
    "sg = sigmoid x\n"
    "th = tanh x\n"
    "re = relu x\n"
    "lk = leaky_relu x slope=0.2\n"
    "pr = prelu x prelu_channels=1\n"
    "el = elu x alpha=0.5\n"
    "se = selu x\n"
    "rr = rrelu x lower=0.1 upper=0.2\n"
    "sp = softplus x beta=2 threshold=10\n"
    "ge = gelu x gelu_tanh=1\n"
    "mo = maxout v pieces=4\n"
    "sm = softmax v axis=0\n"
    "ls = log_softmax v\n"
    "ad = add x, re, th\n"
    "ml = mul x, re\n"
    "cs = channel_scale x, ga\n"
    "ca = concat x, re axis=0\n"
    "sl = slice x start=1 count=2 axis=0\n"
    "fl = flatten x\n"
    "rs = reshape fl shape=(16, -1)\n"
    "pd = pad x pads=(1, 2, 3, 4) value=-0.5\n"
    "id = identity x\n"
    "ce = cross_entropy li smoothing=0.1 class_weights=(1, 2, 0.5, 1, 1, 3) weight=0.3\n"
    "hi = hinge li margin=2 squared=1\n"
    "bc = bce_logits li\n"
    "ms = mse li\n"
    "l1 = l1 li\n"
    "sl1 = smooth_l1 li delta=0.5\n"
    "hu = huber li delta=2\n"
    "kl = kl_div ls\n"
    "lso = lsoftmax v out=5 m=3 lambda=10\n"
    "ctr = center v out=5\n"
    "ra = ramp li cap=3 margin=0.5\n"
    "tr = triplet v, v, v margin=0.2\n"
    "co = contrastive v, v margin=0.3\n"
    "output li\n";

Test(model_text, t15_every_op_round_trips)
{
    cn_error err;
    cn_model *m = parse_s(EVERY_OP, &err);
    cr_assert_not_null(m, "%s", err.msg);
    int seen[CN_OP_COUNT] = {0};
    for (int i = 0; i < cn_model_num_nodes(m); i++) seen[cn_model_node_op(m, i)] = 1;
    for (int k = 0; k < CN_OP_COUNT; k++) cr_assert(seen[k], "op %s unused", cn_op_name(k));
    const cn_attrs *c2 = cn_model_node_attrs(m, node(m, "c2"));
    cr_assert(c2->k[0] == 3 && c2->k[1] == 5 && c2->k[2] == 3);
    cr_assert_eq(c2->weight_init.kind, CN_INIT_KAIMING_UNIFORM);
    cr_assert_eq(c2->weight_init.nonlinearity, CN_GAIN_RELU);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "el"))->act.alpha, 0.5);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "lr"))->alpha, 2e-4);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "sp"))->act.beta, 2);
    const cn_attrs *ce = cn_model_node_attrs(m, node(m, "ce"));
    cr_assert(ce->n_class_weights == 6 && ce->class_weights[2] == (cn_real)0.5);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "rs"))->shape[1], -1);
    cr_assert_eq(cn_model_node_attrs(m, node(m, "pd"))->pads[3], 4);
    roundtrip(m);
    cn_model_free(m);
}

Test(model_text, t15_built_models_round_trip)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 9, 9, &err);
    cn_attrs a = cn_attrs_make(CN_OP_CONV2D);
    a.out = 5;
    a.k[0] = 5; /* k (5, 3, 3): only the first differs */
    a.pad[2] = 7; /* an unused third entry still round-trips */
    a.eps = 0.1 + 0.2;
    a.act.alpha = 1.0 / 3.0;  /* act.alpha on a conv prints as act.alpha */
    a.alpha = -0.0;
    a.scale[1] = 1e-300;
    a.bias_init = cn_init_make(CN_INIT_UNIFORM);
    a.bias_init.low = -1.0 / 7.0;
    int c = cn_model_node(m, CN_OP_CONV2D, &a, &x, 1, "conv-1.a", &err);
    cr_assert_geq(c, 0, "%s", err.msg);
    cn_attrs e = cn_attrs_make(CN_OP_ELU);
    e.alpha = 3.0; /* lrn alpha on an elu: printed as lrn.alpha */
    e.act.alpha = 0.7;
    int el = cn_model_node(m, CN_OP_ELU, &e, &c, 1, "9lives", &err);
    cr_assert_geq(el, 0, "%s", err.msg);
    int r = cn_model_unary(m, CN_OP_RELU, el, &err);
    int f = cn_model_flatten(m, r, &err);
    int l = cn_model_linear(m, f, 3, &err);
    cr_assert_geq(cn_model_unary(m, CN_OP_CROSS_ENTROPY, l, &err), 0);
    cr_assert_eq(cn_model_set_output(m, r, &err), CN_OK);
    roundtrip(m);
    char *t = cn_model_print(m, &err);
    cr_assert(strstr(t, "lrn.alpha=3") && strstr(t, " alpha=0.7") && strstr(t, "act.alpha="),
              "%s", t);
    cr_assert(strstr(t, "eps=0.30000000000000004"), "%s", t);
    cr_assert(strstr(t, "output relu1\n"), "%s", t);
    cn_free(t);
    cn_model_free(m);
    cr_assert_null(cn_model_print(NULL, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
}

Test(model_text, load_text_reads_files_and_names_them)
{
    char dir[512], path[600];
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "model_text"), 0);
    snprintf(path, sizeof path, "%s/net.cnm", dir);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    fputs(RESNET, fp);
    fclose(fp);
    cn_error err;
    cn_model *m = cn_model_load_text(path, NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_num_nodes(m), 22);
    cn_model_free(m);
    fp = fopen(path, "wb");
    fputs("x = input shape=3\ny = relu\tq\n", fp);
    fclose(fp);
    cr_assert_null(cn_model_load_text(path, NULL, &err));
    char want[700];
    snprintf(want, sizeof want, "%s:2:10: undefined node 'q'", path);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    remove(path);
    cr_assert_null(cn_model_load_text(path, NULL, &err));
    cr_assert_eq(err.code, CN_ERR_IO);
    tst_tmpdir_remove(dir);
}
