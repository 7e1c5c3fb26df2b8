/* test_schedule.c: the learning-rate and momentum schedules (convnet/schedule.h):
 * parity with torch.optim.lr_scheduler (StepLR, MultiStepLR, ExponentialLR,
 * PolynomialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearLR, LinearLR
 * warm-ups through SequentialLR, ReduceLROnPlateau on fixed metric sequences) from
 * tests/fixtures/schedule/lr.safetensors (tools/fixtures/schedule.py), restart
 * flags, closed forms of the notes' exponential and 1/t decay, warm-up in front of
 * any kind, the momentum ramp, save / load mid-way giving the same sequence bit for
 * bit, and invalid configs and states rejected with messages naming the field.
 * Schedules compute in double in both builds, so tolerances do not depend on
 * CN_DOUBLE. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/schedule.h"
#include "convnet/safetensors.h"
#include "support.h"

#define FIXTURE "tests/fixtures/schedule/lr.safetensors"
#define STEPS 60

/* PARITY_TOL, relative to base_lr: PyTorch trains with its chained (recursive)
 * form, lr_t = f(lr_{t-1}), while cn_sched_lr is the closed form (the same
 * expressions as PyTorch's _get_closed_form_lr). Each chained step rounds a few
 * times (2^-53 relative each), and the errors carry multiplicatively along the
 * chain: 60 steps give ~1e-16 .. 3e-16 * base_lr (measured: exponential,
 * polynomial, linear). The chained cosine is worse: its ratio
 * (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T)) divides by 1 + cos near its zero,
 * where an absolute rounding of cos (~1.1e-16) is a relative error of
 * 1.1e-16 / (1 + cos(pi (T-1)/T)) ~ 1.1e-16 * 2 T^2 / pi^2, i.e. 2e-14 for
 * T = 30; it then persists while the lr climbs back to base_lr (measured:
 * warmup_cosine, T = 30, 1.9e-14 * base_lr). 1e-12 is 50x that bound for the
 * T <= 30 used here, and still 10^9 times finer than any change of value the
 * cases exercise. PyTorch computes restarts and plateau in closed form: those
 * match to the bit (measured 0). */
#define PARITY_TOL 1e-12

/* ------------------------------------------------------------------ helpers */

static cn_schedule make(const cn_sched_config *c)
{
    cn_schedule s;
    cn_error err;
    cr_assert_eq(cn_sched_init(&s, c, &err), CN_OK, "%s", err.msg);
    return s;
}

/* fx_f64: tensor name of the fixture as n doubles (F64 read bit for bit: the f32
 * helpers of support.h would round to float). */
static double *fx_f64(const cn_safetensors *st, const char *name, size_t n)
{
    const cn_st_tensor *t = cn_safetensors_find(st, name);
    cr_assert(t, "fixture has no %s", name);
    cr_assert(t->dtype == CN_DTYPE_F64 && t->numel == n, "%s: not F64 (%zu)", name, n);
    double *v = malloc(n * sizeof *v);
    cr_assert(v);
    memcpy(v, t->data, n * sizeof *v);
    return v;
}

/* The fixture cases: the same configurations as CASES / PLATEAU in
 * tools/fixtures/schedule.py. */
static cn_sched_config case_config(const char *name)
{
    cn_sched_config c = cn_sched_config_default(CN_SCHED_KIND_COUNT);
    if (!strcmp(name, "step")) {
        c = cn_sched_config_default(CN_SCHED_STEP);
        c.base_lr = 0.1, c.step_size = 7, c.gamma = 0.5;
    } else if (!strcmp(name, "multistep")) {
        c = cn_sched_config_default(CN_SCHED_MULTISTEP);
        c.base_lr = 0.1, c.gamma = 0.3, c.n_milestones = 4;
        c.milestones[0] = 5, c.milestones[1] = 12, c.milestones[2] = 12, c.milestones[3] = 30;
    } else if (!strcmp(name, "exponential")) {
        c = cn_sched_config_default(CN_SCHED_EXPONENTIAL);
        c.base_lr = 0.1, c.gamma = 0.93;
    } else if (!strcmp(name, "polynomial")) {
        c = cn_sched_config_default(CN_SCHED_POLYNOMIAL);
        c.base_lr = 0.1, c.total = 40, c.power = 2.0;
    } else if (!strcmp(name, "polynomial_frac")) {
        c = cn_sched_config_default(CN_SCHED_POLYNOMIAL);
        c.base_lr = 0.05, c.total = 25, c.power = 0.7;
    } else if (!strcmp(name, "cosine")) {
        c = cn_sched_config_default(CN_SCHED_COSINE);
        c.base_lr = 0.1, c.t_max = 20, c.eta_min = 0.001;
    } else if (!strcmp(name, "cosine_restarts")) {
        c = cn_sched_config_default(CN_SCHED_COSINE_RESTARTS);
        c.base_lr = 0.1, c.t0 = 5, c.t_mult = 2, c.eta_min = 0.002;
    } else if (!strcmp(name, "cosine_restarts_m1")) {
        c = cn_sched_config_default(CN_SCHED_COSINE_RESTARTS);
        c.base_lr = 0.08, c.t0 = 7, c.t_mult = 1, c.eta_min = 0.0;
    } else if (!strcmp(name, "linear_warmup")) {
        c = cn_sched_config_default(CN_SCHED_CONSTANT);
        c.base_lr = 0.1, c.warmup_steps = 8, c.warmup_start_factor = 0.25;
    } else if (!strcmp(name, "warmup_cosine")) {
        c = cn_sched_config_default(CN_SCHED_COSINE);
        c.base_lr = 0.1, c.t_max = 30, c.eta_min = 1e-4;
        c.warmup_steps = 5, c.warmup_start_factor = 0.1;
    } else if (!strcmp(name, "warmup_step")) {
        c = cn_sched_config_default(CN_SCHED_STEP);
        c.base_lr = 0.2, c.step_size = 10, c.gamma = 0.5;
        c.warmup_steps = 3, c.warmup_start_factor = 0.5;
    } else if (!strcmp(name, "warmup_restarts")) {
        c = cn_sched_config_default(CN_SCHED_COSINE_RESTARTS);
        c.base_lr = 0.1, c.t0 = 6, c.t_mult = 2, c.eta_min = 0.0;
        c.warmup_steps = 4, c.warmup_start_factor = 0.2;
    } else if (!strcmp(name, "plateau_min_rel")) {
        c = cn_sched_config_default(CN_SCHED_PLATEAU);
        c.base_lr = 0.1, c.mode = CN_SCHED_MODE_MIN, c.factor = 0.5, c.patience = 3;
        c.threshold = 1e-2, c.threshold_mode = CN_SCHED_THRESHOLD_REL, c.cooldown = 2;
        c.min_lr = 0.004;
    } else if (!strcmp(name, "plateau_max_abs")) {
        c = cn_sched_config_default(CN_SCHED_PLATEAU);
        c.base_lr = 0.05, c.mode = CN_SCHED_MODE_MAX, c.factor = 0.3, c.patience = 2;
        c.threshold = 0.01, c.threshold_mode = CN_SCHED_THRESHOLD_ABS, c.cooldown = 0;
        c.min_lr = 1e-3;
    } else if (!strcmp(name, "plateau_min_abs_cool")) {
        c = cn_sched_config_default(CN_SCHED_PLATEAU);
        c.base_lr = 0.1, c.mode = CN_SCHED_MODE_MIN, c.factor = 0.2, c.patience = 0;
        c.threshold = 0.005, c.threshold_mode = CN_SCHED_THRESHOLD_ABS, c.cooldown = 3;
        c.min_lr = 0.0;
    } else {
        cr_assert_fail("unknown fixture case %s", name);
    }
    return c;
}

/* ------------------------------------------------------------------ PyTorch parity */

Test(schedule, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    cr_assert_eq((int)tst_fx_meta_num(st, "steps"), STEPS);
    const char *cases = cn_safetensors_meta(st, "cases");
    cr_assert(cases);
    char list[512];
    snprintf(list, sizeof list, "%s", cases);
    int ncases = 0, nrestart = 0, nplateau = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save), ncases++) {
        char key[96];
        cn_sched_config c = case_config(name);
        cn_schedule s = make(&c);
        snprintf(key, sizeof key, "%s.lr", name);
        double *ref = fx_f64(st, key, STEPS + 1);
        snprintf(key, sizeof key, "%s.metric", name);
        double *metric = cn_safetensors_find(st, key) ? fx_f64(st, key, STEPS) : NULL;
        snprintf(key, sizeof key, "%s.restart", name);
        double *restart = cn_safetensors_find(st, key) ? fx_f64(st, key, STEPS + 1) : NULL;
        cr_assert_eq(metric != NULL, c.kind == CN_SCHED_PLATEAU, "%s", name);
        cr_assert_eq(restart != NULL, c.kind == CN_SCHED_COSINE_RESTARTS, "%s", name);
        double worst = 0.0;
        for (int t = 0; t <= STEPS; t++) {
            double lr = cn_sched_lr(&s);
            double d = fabs(lr - ref[t]);
            if (d > worst) worst = d;
            cr_assert(d <= PARITY_TOL * c.base_lr, "%s: t = %d: lr %.17g, torch %.17g", name,
                      t, lr, ref[t]);
            if (restart)
                cr_assert_eq(cn_sched_restarted(&s), (int)restart[t], "%s: t = %d: restart",
                             name, t);
            if (t == STEPS) break;
            if (metric)
                cr_assert_eq(cn_sched_step_metric(&s, metric[t], &err), CN_OK, "%s", err.msg);
            else
                cn_sched_step(&s);
        }
        cr_log_info("%-22s max |lr - torch| = %.3g (%.3g of base_lr)", name, worst,
                    worst / c.base_lr);
        nrestart += restart != NULL;
        nplateau += metric != NULL;
        free(ref);
        free(metric);
        free(restart);
    }
    cr_assert_eq(ncases, 15);
    cr_assert_eq(nrestart, 3);
    cr_assert_eq(nplateau, 3);
    cn_safetensors_free(st);
}

/* The restart cases: cycles counted; cosine_restarts (t0 5, t_mult 2) restarts at
 * t = 5, 15, 35; the value there is back at base_lr exactly. */
Test(schedule, restart_cycles)
{
    cn_sched_config c = case_config("cosine_restarts");
    cn_schedule s = make(&c);
    int restarts[4], n = 0;
    for (int t = 1; t <= STEPS; t++) {
        cn_sched_step(&s);
        if (cn_sched_restarted(&s)) {
            cr_assert_lt(n, 4);
            restarts[n++] = t;
            cr_assert_eq(cn_sched_lr(&s), c.base_lr);
            cr_assert_eq(cn_sched_cycle(&s), n);
        }
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(restarts[0], 5);
    cr_assert_eq(restarts[1], 15);
    cr_assert_eq(restarts[2], 35);
    /* The flag lasts one step. */
    cr_assert_eq(cn_sched_restarted(&s), 0);
    /* Other kinds never report a restart. */
    cn_sched_config k = cn_sched_config_default(CN_SCHED_COSINE);
    k.t_max = 3;
    cn_schedule q = make(&k);
    for (int t = 0; t < 20; t++) {
        cn_sched_step(&q);
        cr_assert_eq(cn_sched_restarted(&q), 0);
        cr_assert_eq(cn_sched_cycle(&q), 0);
    }
}

/* ------------------------------------------------------------------ closed forms */

Test(schedule, notes_exp_decay_and_inv_time)
{
    cn_sched_config e = cn_sched_config_default(CN_SCHED_EXP_DECAY);
    e.base_lr = 0.1, e.k = 0.05;
    cn_sched_config v = cn_sched_config_default(CN_SCHED_INV_TIME);
    v.base_lr = 0.1, v.k = 0.05;
    cn_schedule se = make(&e), sv = make(&v);
    for (int t = 0; t <= STEPS; t++) {
        double ee = 0.1 * exp(-0.05 * t), ev = 0.1 / (1.0 + 0.05 * t);
        cr_assert(fabs(cn_sched_lr(&se) - ee) <= 1e-15 * 0.1, "exp t %d", t);
        cr_assert(fabs(cn_sched_lr(&sv) - ev) <= 1e-15 * 0.1, "inv t %d", t);
        cn_sched_step(&se);
        cn_sched_step(&sv);
    }
    /* Hand values: t = 20 gives alpha0 / e and alpha0 / 2. */
    cn_schedule a = make(&e), b = make(&v);
    for (int t = 0; t < 20; t++) cn_sched_step(&a), cn_sched_step(&b);
    cr_assert(fabs(cn_sched_lr(&a) - 0.1 / 2.718281828459045) < 1e-16);
    cr_assert(fabs(cn_sched_lr(&b) - 0.05) < 1e-17);
    /* k = 0 is constant; the notes' exp decay and PyTorch's gamma^t agree for
     * gamma = e^-k (to rounding). */
    cn_sched_config g = cn_sched_config_default(CN_SCHED_EXPONENTIAL);
    g.base_lr = 0.1, g.gamma = exp(-0.05);
    cn_schedule sg = make(&g), se2 = make(&e);
    for (int t = 0; t <= STEPS; t++, cn_sched_step(&sg), cn_sched_step(&se2))
        cr_assert(fabs(cn_sched_lr(&sg) - cn_sched_lr(&se2)) <= 1e-14 * 0.1, "t %d", t);
}

/* Warm-up in front of a kind without a PyTorch twin: linear from start_factor *
 * base_lr, then the kind from its own t = 0. */
Test(schedule, warmup_composition)
{
    cn_sched_config c = cn_sched_config_default(CN_SCHED_INV_TIME);
    c.base_lr = 0.2, c.k = 0.5, c.warmup_steps = 4, c.warmup_start_factor = 0.25;
    cn_schedule s = make(&c);
    const double want[] = {0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2 / 1.5, 0.1, 0.2 / 2.5};
    for (int t = 0; t < 8; t++, cn_sched_step(&s))
        cr_assert(fabs(cn_sched_lr(&s) - want[t]) < 1e-16, "t %d: %.17g", t, cn_sched_lr(&s));

    /* Warm-up 0 and start factor 1 both mean no warm-up. */
    cn_sched_config a = cn_sched_config_default(CN_SCHED_COSINE);
    a.t_max = 10;
    cn_sched_config b = a;
    b.warmup_steps = 0;
    a.warmup_steps = 0;
    cn_schedule sa = make(&a), sb = make(&b);
    for (int t = 0; t < 25; t++, cn_sched_step(&sa), cn_sched_step(&sb))
        cr_assert_eq(cn_sched_lr(&sa), cn_sched_lr(&sb));

    /* Plateau behind a warm-up: metrics during the warm-up are not counted. */
    cn_sched_config p = cn_sched_config_default(CN_SCHED_PLATEAU);
    p.base_lr = 1.0, p.patience = 0, p.factor = 0.5, p.warmup_steps = 3;
    p.warmup_start_factor = 0.5;
    cn_schedule sp = make(&p);
    cn_error err;
    const double lrs[] = {0.5, 2.0 / 3.0, 5.0 / 6.0, 1.0, 1.0, 0.5, 0.25};
    for (int t = 0; t < 7; t++) {
        cr_assert(fabs(cn_sched_lr(&sp) - lrs[t]) < 1e-15, "t %d: %.17g", t, cn_sched_lr(&sp));
        /* the metric never improves after t = 3: from t = 4 on every metric is bad */
        cr_assert_eq(cn_sched_step_metric(&sp, 1.0, &err), CN_OK, "%s", err.msg);
    }
}

Test(schedule, momentum_ramp)
{
    cn_sched_config c = cn_sched_config_default(CN_SCHED_MOMENTUM);
    cr_assert_eq(c.base_lr, 0.5);
    cr_assert_eq(c.final_value, 0.99);
    c.total = 10;
    cn_schedule s = make(&c);
    for (int t = 0; t <= 30; t++, cn_sched_step(&s)) {
        double want = t >= 10 ? 0.99 : 0.5 + 0.49 * t / 10.0;
        cr_assert(fabs(cn_sched_lr(&s) - want) < 1e-15, "t %d: %.17g", t, cn_sched_lr(&s));
        if (t >= 10) cr_assert_eq(cn_sched_lr(&s), 0.99);
    }
    /* A decreasing ramp works too. */
    c.base_lr = 0.9, c.final_value = 0.5, c.total = 4;
    cn_schedule d = make(&c);
    for (int t = 0; t < 4; t++) cn_sched_step(&d);
    cr_assert_eq(cn_sched_lr(&d), 0.5);
}

/* ------------------------------------------------------------------ save / load */

/* run: the values (n) of a schedule built from c, stepping with metrics m (NULL:
 * plain steps), and the restart flags; with save_at >= 0 the state is saved at
 * that t, a fresh schedule is built from c, the state loaded into it, and the run
 * goes on with the fresh one. */
static void run(const cn_sched_config *c, const double *m, int n, int save_at, double *lr,
                int *flags)
{
    cn_schedule s = make(c);
    cn_error err;
    for (int t = 0; t < n; t++) {
        if (t == save_at) {
            double state[CN_SCHED_STATE_LEN];
            cn_sched_state_save(&s, state);
            cn_schedule fresh = make(c);
            cr_assert_eq(cn_sched_state_load(&fresh, state, &err), CN_OK, "%s", err.msg);
            s = fresh;
        }
        lr[t] = cn_sched_lr(&s);
        flags[t] = cn_sched_restarted(&s);
        if (m)
            cr_assert_eq(cn_sched_step_metric(&s, m[t], &err), CN_OK, "%s", err.msg);
        else
            cn_sched_step(&s);
    }
}

Test(schedule, save_load_resumes_bit_identical)
{
    static const char *const names[] = {
        "step", "multistep", "exponential", "polynomial", "cosine", "cosine_restarts",
        "linear_warmup", "warmup_cosine", "warmup_restarts", "plateau_min_rel",
        "plateau_max_abs", "plateau_min_abs_cool",
    };
    double metric[STEPS];
    for (int t = 0; t < STEPS; t++) metric[t] = 1.0 + 0.5 * cos(0.7 * t) + 1.0 / (1 + t);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cn_sched_config c = case_config(names[i]);
        const double *m = c.kind == CN_SCHED_PLATEAU ? metric : NULL;
        for (int save_at = 0; save_at < STEPS; save_at += 7) {
            double a[STEPS], b[STEPS];
            int fa[STEPS], fb[STEPS];
            run(&c, m, STEPS, -1, a, fa);
            run(&c, m, STEPS, save_at, b, fb);
            cr_assert(memcmp(a, b, sizeof a) == 0, "%s: resumed at %d differs", names[i],
                      save_at);
            cr_assert(memcmp(fa, fb, sizeof fa) == 0, "%s: flags resumed at %d", names[i],
                      save_at);
        }
    }
    /* The other kinds too, from their defaults. */
    for (int k = 0; k < CN_SCHED_KIND_COUNT; k++) {
        cn_sched_config c = cn_sched_config_default((cn_sched_kind)k);
        c.step_size = 3, c.t_max = 9, c.t0 = 4, c.t_mult = 3, c.patience = 1, c.total = 13;
        const double *m = c.kind == CN_SCHED_PLATEAU ? metric : NULL;
        double a[STEPS], b[STEPS];
        int fa[STEPS], fb[STEPS];
        run(&c, m, STEPS, -1, a, fa);
        run(&c, m, STEPS, 31, b, fb);
        cr_assert(memcmp(a, b, sizeof a) == 0, "%s differs", cn_sched_name(c.kind));
    }
}

Test(schedule, state_load_rejects)
{
    cn_sched_config c = case_config("cosine_restarts");
    cn_schedule s = make(&c);
    for (int t = 0; t < 9; t++) cn_sched_step(&s);
    double good[CN_SCHED_STATE_LEN], st[CN_SCHED_STATE_LEN];
    cn_sched_state_save(&s, good);
    cr_assert_eq(good[0], 1.0);
    cr_assert_eq(good[2], 9.0);
    cn_error err;
    struct {
        int entry;
        double value;
        const char *expect;
    } bad[] = {
        {0, 2.0, "version"},       {1, (double)CN_SCHED_STEP, "kind"},
        {2, 1.5, "(t)"},           {2, -1.0, "(t)"},
        {2, NAN, "(t)"},           {2, 1e300, "(t)"},
        {3, NAN, "(lr)"},          {3, -0.1, "(lr)"},
        {4, NAN, "best"},          {5, -2.0, "num_bad"},
        {6, 0.5, "cooldown"},      {7, 40.0, "t_cur"},
        {8, 0.0, "t_i"},           {8, 3.0, "t_i"},
        {9, INFINITY, "cycle"},    {10, 2.0, "restarted"},
        {11, 3.0, "warmup_steps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(st, good, sizeof st);
        st[bad[i].entry] = bad[i].value;
        cn_schedule before = s;
        cr_assert_eq(cn_sched_state_load(&s, st, &err), CN_ERR_FORMAT, "entry %d",
                     bad[i].entry);
        cr_assert(strstr(err.msg, bad[i].expect), "entry %d: %s", bad[i].entry, err.msg);
        cr_assert(memcmp(&before, &s, sizeof s) == 0, "entry %d changed s", bad[i].entry);
    }
    cr_assert_eq(cn_sched_state_load(NULL, good, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sched_state_load(&s, NULL, &err), CN_ERR_ARG);

    /* t saturates at CN_SCHED_T_LIMIT; values stay finite there. */
    cn_sched_config e = cn_sched_config_default(CN_SCHED_EXP_DECAY);
    cn_schedule q = make(&e);
    cn_sched_state_save(&q, st);
    st[2] = (double)CN_SCHED_T_LIMIT;
    cr_assert_eq(cn_sched_state_load(&q, st, &err), CN_OK, "%s", err.msg);
    cn_sched_step(&q);
    cr_assert_eq(q.t, CN_SCHED_T_LIMIT);
    cr_assert(isfinite(cn_sched_lr(&q)) && cn_sched_lr(&q) >= 0.0);
}

/* ------------------------------------------------------------------ validation */

Test(schedule, invalid_configs_name_the_field)
{
    /* Each row: a change to a valid default config and the text the message must
     * contain (the field name and its value). */
    cn_error err;
    cn_schedule s;
#define REJECT(kind_, stmt, text)                                                          \
    do {                                                                                   \
        cn_sched_config c = cn_sched_config_default(kind_);                                \
        stmt;                                                                              \
        memset(&s, 0xAB, sizeof s);                                                        \
        cn_schedule before = s;                                                            \
        cr_assert_eq(cn_sched_init(&s, &c, &err), CN_ERR_ARG, "%s accepted", #stmt);       \
        cr_assert(strstr(err.msg, text), "%s: message '%s' lacks '%s'", #stmt, err.msg,   \
                  text);                                                                   \
        cr_assert(memcmp(&before, &s, sizeof s) == 0, "%s: s changed", #stmt);             \
    } while (0)
    REJECT(CN_SCHED_STEP, c.step_size = 0, "step_size = 0");
    REJECT(CN_SCHED_STEP, c.gamma = 0.0, "gamma = 0");
    REJECT(CN_SCHED_STEP, c.gamma = NAN, "gamma = nan");
    REJECT(CN_SCHED_MULTISTEP, c.n_milestones = 0, "n_milestones = 0");
    REJECT(CN_SCHED_MULTISTEP, c.n_milestones = 17, "n_milestones = 17");
    REJECT(CN_SCHED_MULTISTEP, c.milestones[0] = 0, "milestones[0] = 0");
    REJECT(CN_SCHED_MULTISTEP, c.milestones[2] = 10, "milestones[2] = 10: milestones must be");
    REJECT(CN_SCHED_EXPONENTIAL, c.gamma = -0.5, "gamma = -0.5");
    REJECT(CN_SCHED_EXP_DECAY, c.k = -1.0, "'exp_decay': k = -1");
    REJECT(CN_SCHED_INV_TIME, c.k = INFINITY, "'inv_time': k = inf");
    REJECT(CN_SCHED_POLYNOMIAL, c.total = 0, "total = 0");
    REJECT(CN_SCHED_POLYNOMIAL, c.power = 0.0, "power = 0");
    REJECT(CN_SCHED_COSINE, c.t_max = -3, "t_max = -3");
    REJECT(CN_SCHED_COSINE, c.eta_min = -1e-3, "eta_min = -0.001");
    REJECT(CN_SCHED_COSINE_RESTARTS, c.t0 = 0, "t0 = 0");
    REJECT(CN_SCHED_COSINE_RESTARTS, c.t_mult = 0, "t_mult = 0");
    REJECT(CN_SCHED_COSINE_RESTARTS, c.eta_min = NAN, "eta_min = nan");
    REJECT(CN_SCHED_PLATEAU, c.mode = (cn_sched_mode)2, "mode = 2");
    REJECT(CN_SCHED_PLATEAU, c.factor = 1.0, "factor = 1");
    REJECT(CN_SCHED_PLATEAU, c.factor = 0.0, "factor = 0");
    REJECT(CN_SCHED_PLATEAU, c.patience = -1, "patience = -1");
    REJECT(CN_SCHED_PLATEAU, c.threshold = -1e-4, "threshold = -0.0001");
    REJECT(CN_SCHED_PLATEAU, c.threshold_mode = (cn_sched_threshold_mode)5, "threshold_mode = 5");
    REJECT(CN_SCHED_PLATEAU, c.cooldown = -2, "cooldown = -2");
    REJECT(CN_SCHED_PLATEAU, c.min_lr = -1.0, "min_lr = -1");
    REJECT(CN_SCHED_PLATEAU, c.eps = NAN, "eps = nan");
    REJECT(CN_SCHED_MOMENTUM, c.base_lr = 1.0, "base_lr = 1: a momentum");
    REJECT(CN_SCHED_MOMENTUM, c.final_value = -0.1, "final_value = -0.1");
    REJECT(CN_SCHED_MOMENTUM, c.total = 0, "total = 0");
    REJECT(CN_SCHED_CONSTANT, c.base_lr = -0.1, "base_lr = -0.1");
    REJECT(CN_SCHED_CONSTANT, c.base_lr = INFINITY, "base_lr = inf");
    REJECT(CN_SCHED_CONSTANT, c.unit = (cn_sched_unit)7, "unit = 7");
    REJECT(CN_SCHED_CONSTANT, c.warmup_steps = -1, "warmup_steps = -1");
    REJECT(CN_SCHED_COSINE, (c.warmup_steps = 5, c.warmup_start_factor = 0.0),
           "warmup_start_factor = 0");
    REJECT(CN_SCHED_COSINE, (c.warmup_steps = 5, c.warmup_start_factor = 1.5),
           "warmup_start_factor = 1.5");
    REJECT(CN_SCHED_CONSTANT, c.kind = CN_SCHED_KIND_COUNT, "kind = 11");
    REJECT(CN_SCHED_CONSTANT, c.kind = (cn_sched_kind)-1, "kind = -1");
#undef REJECT
    /* Fields a kind does not read are not checked: a step schedule ignores t_max. */
    cn_sched_config ok = cn_sched_config_default(CN_SCHED_STEP);
    ok.t_max = -5, ok.warmup_start_factor = 0.0;
    cr_assert_eq(cn_sched_init(&s, &ok, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_sched_init(NULL, &ok, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sched_init(&s, NULL, &err), CN_ERR_ARG);
    /* Every default config is valid and starts at base_lr. */
    for (int k = 0; k < CN_SCHED_KIND_COUNT; k++) {
        cn_sched_config c = cn_sched_config_default((cn_sched_kind)k);
        cr_assert_eq(cn_sched_init(&s, &c, &err), CN_OK, "%s: %s", cn_sched_name(c.kind),
                     err.msg);
        cr_assert_eq(cn_sched_lr(&s), c.base_lr);
        cr_assert_eq(c.unit, CN_SCHED_PER_EPOCH);
    }
}

Test(schedule, plateau_metric_errors)
{
    cn_sched_config c = cn_sched_config_default(CN_SCHED_PLATEAU);
    cn_schedule s = make(&c);
    cn_error err;
    cr_assert_eq(cn_sched_step_metric(&s, 1.0, &err), CN_OK);
    cn_schedule before = s;
    cr_assert_eq(cn_sched_step_metric(&s, NAN, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "plateau") && strstr(err.msg, "step 1"), "%s", err.msg);
    cr_assert_eq(cn_sched_step_metric(&s, -INFINITY, &err), CN_ERR_NUMERIC);
    cr_assert(memcmp(&before, &s, sizeof s) == 0);
    cr_assert_eq(cn_sched_step_metric(NULL, 1.0, &err), CN_ERR_ARG);
    /* cn_sched_step on a plateau only advances t. */
    cn_sched_step(&s);
    cr_assert_eq(s.t, 2);
    cr_assert_eq(cn_sched_lr(&s), c.base_lr);
    /* Other kinds ignore the metric, NaN included. */
    cn_sched_config k = cn_sched_config_default(CN_SCHED_STEP);
    k.step_size = 1;
    cn_schedule q = make(&k);
    cr_assert_eq(cn_sched_step_metric(&q, NAN, &err), CN_OK);
    cr_assert(fabs(cn_sched_lr(&q) - 0.01) < 1e-17);
}

/* ------------------------------------------------------------------ names */

Test(schedule, names_and_parse)
{
    cn_error err;
    cn_sched_kind k;
    for (int i = 0; i < CN_SCHED_KIND_COUNT; i++) {
        const char *nm = cn_sched_name((cn_sched_kind)i);
        cr_assert_neq(strcmp(nm, "?"), 0);
        cr_assert_eq(cn_sched_parse(nm, &k, &err), CN_OK, "%s", err.msg);
        cr_assert_eq((int)k, i);
    }
    cr_assert_str_eq(cn_sched_name(CN_SCHED_KIND_COUNT), "?");
    cr_assert_str_eq(cn_sched_name((cn_sched_kind)-1), "?");
    cr_assert_str_eq(cn_sched_name(CN_SCHED_EXP_DECAY), "exp_decay");
    cr_assert_str_eq(cn_sched_name(CN_SCHED_EXPONENTIAL), "exponential");
    cr_assert_str_eq(cn_sched_unit_name(CN_SCHED_PER_STEP), "step");
    cr_assert_str_eq(cn_sched_unit_name(CN_SCHED_PER_EPOCH), "epoch");
    cr_assert_str_eq(cn_sched_unit_name(CN_SCHED_UNIT_COUNT), "?");
    cr_assert_eq(cn_sched_parse("CosineAnnealingWarmRestarts", &k, &err), CN_OK);
    cr_assert_eq(k, CN_SCHED_COSINE_RESTARTS);
    cr_assert_eq(cn_sched_parse("ReduceLROnPlateau", &k, &err), CN_OK);
    cr_assert_eq(k, CN_SCHED_PLATEAU);
    cr_assert_eq(cn_sched_parse("ExponentialLR", &k, &err), CN_OK);
    cr_assert_eq(k, CN_SCHED_EXPONENTIAL);

    k = CN_SCHED_STEP;
    static const struct {
        const char *typo, *nearest;
    } typos[] = {
        {"cosin", "cosine"},           {"multi_step", "multistep"},
        {"plateu", "plateau"},         {"exp-decay", "exp_decay"},
        {"momentun", "momentum"},      {"cosine_restart", "cosine_restarts"},
        {"StepLr", "StepLR"},          {"", "step"},
    };
    for (size_t i = 0; i < sizeof typos / sizeof typos[0]; i++) {
        cr_assert_eq(cn_sched_parse(typos[i].typo, &k, &err), CN_ERR_ARG, "%s", typos[i].typo);
        char want[64];
        snprintf(want, sizeof want, "did you mean '%s'", typos[i].nearest);
        cr_assert(strstr(err.msg, want), "%s: %s", typos[i].typo, err.msg);
        cr_assert_eq(k, CN_SCHED_STEP, "out changed on error");
    }
    cr_assert_eq(cn_sched_parse(NULL, &k, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sched_parse("step", NULL, &err), CN_ERR_ARG);
}
