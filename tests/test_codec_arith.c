/* The integer f32 arithmetic of src/codec/qk_codec.h equals IEEE-754 hardware.
 *
 * qk_f32_mul / qk_f32_div are the GPU-portable, integer-only versions of f32
 * multiply and divide (round to nearest even, subnormals kept). They are
 * compared with the host's native float operations (x86-64 SSE, IEEE, default
 * environment: no flush-to-zero, no denormals-are-zero) over millions of pairs
 * drawn to hit subnormal results, overflow, and exact rounding ties, and over
 * every combination of special values. Also: the flush-to-zero multiply, the
 * ordered comparison, the FTZ helper, the table-based reciprocal model and
 * the shaders' bf16 rounding by Veltkamp's split. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tally.h"

#include "codec/qk_codec.h"
#include "ref/ref_groups.h"
#include "ref/ref_internal.h"
#include "codec/qk_nvfp4_bounds.h"


/* Native IEEE operations; volatile keeps the compiler from folding anything. */
static float nmul(float a, float b)
{
    volatile float x = a, y = b;
    volatile float r = x * y;
    return r;
}

static float ndiv(float a, float b)
{
    volatile float x = a, y = b;
    volatile float r = x / y;
    return r;
}

static int ngt(float a, float b)
{
    volatile float x = a, y = b;
    return x > y;
}

static float ftzf(float x) { return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x; }

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t r32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static int32_t rint_in(int32_t lo, int32_t hi) { return lo + (int32_t)(r32() % (uint32_t)(hi - lo + 1)); }


/* Compares an integer result with the native one: equal bits, or both NaN. */
static void check_res(tally *t, const char *op, uint32_t a, uint32_t b, float want, uint32_t got)
{
    t->checked++;
    if (isnan(want)) {
        if (!isnan(qk_float(got)))
            tally_bad(t, "%s(0x%08X, 0x%08X): expected NaN, got 0x%08X", op, a, b, got);
        return;
    }
    if (qk_bits(want) != got)
        tally_bad(t, "%s(0x%08X, 0x%08X): expected 0x%08X, got 0x%08X", op, a, b, qk_bits(want), got);
}

/* Statistics of the exact results hit, to show the distributions do their job. */
typedef struct {
    uint64_t ties, subnormal_ties, subnormal, overflow, underflow_zero;
} hits;

/* Exact value q (a double holding the exact result): is it a rounding tie in f32? */
static int is_f32_tie(double q)
{
    float r = (float)q;
    if (isinf(r) || (double)r == q)
        return 0;
    float lo = (double)r < q ? r : nextafterf(r, -INFINITY);
    float hi = (double)r < q ? nextafterf(r, INFINITY) : r;
    if (isinf(hi))
        return 0;
    return q - (double)lo == (double)hi - q;
}

static void count_hits(hits *h, double exact, int exact_known, float res)
{
    if (exact_known && is_f32_tie(exact)) {
        h->ties++;
        h->subnormal_ties += fabs(exact) < (double)FLT_MIN;
    }
    if (fpclassify(res) == FP_SUBNORMAL)
        h->subnormal++;
    if (isinf(res))
        h->overflow++;
    if (res == 0.0f)
        h->underflow_zero++;
}

typedef struct {
    tally mul, div, mulftz, gt, fmul;
    hits hm, hd;
} arith_state;

/* Empty tallies, named for the report. */
static arith_state arith_state_new(void)
{
    arith_state st;
    memset(&st, 0, sizeof st);
    st.mul.what = "mul";
    st.div.what = "div";
    st.mulftz.what = "mul_ftz";
    st.gt.what = "gt";
    st.fmul.what = "qk_fmul/qk_fdiv";
    return st;
}

static void assert_no_mismatches(const arith_state *st)
{
    assert_int_equal(st->mul.bad, 0);
    assert_int_equal(st->div.bad, 0);
    assert_int_equal(st->mulftz.bad, 0);
    assert_int_equal(st->gt.bad, 0);
    assert_int_equal(st->fmul.bad, 0);
}

static void check_pair(arith_state *st, uint32_t a, uint32_t b)
{
    float fa = qk_float(a), fbb = qk_float(b);
    float m = nmul(fa, fbb), d = ndiv(fa, fbb);
    check_res(&st->mul, "mul", a, b, m, qk_f32_mul(a, b));
    check_res(&st->div, "div", a, b, d, qk_f32_div(a, b));
    float mf = ftzf(nmul(ftzf(fa), ftzf(fbb)));
    check_res(&st->mulftz, "mul_ftz", a, b, mf, qk_f32_mul_ftz(a, b));
    /* the native helpers of ref_internal.h agree with the integer versions */
    st->fmul.checked += 2;
    if (!isnan(m) && qk_fmul(a, b) != qk_f32_mul(a, b))
        tally_bad(&st->fmul, "qk_fmul(0x%08X, 0x%08X) != qk_f32_mul", a, b);
    if (!isnan(d) && qk_fdiv(a, b) != qk_f32_div(a, b))
        tally_bad(&st->fmul, "qk_fdiv(0x%08X, 0x%08X) != qk_f32_div", a, b);
    if (!isnan(fa) && !isnan(fbb)) {
        st->gt.checked += 2;
        if ((uint32_t)ngt(fa, fbb) != qk_f32_gt(a, b))
            tally_bad(&st->gt, "gt(0x%08X, 0x%08X): expected %d", a, b, ngt(fa, fbb));
        if ((uint32_t)ngt(fbb, fa) != qk_f32_gt(b, a))
            tally_bad(&st->gt, "gt(0x%08X, 0x%08X): expected %d", b, a, ngt(fbb, fa));
    }
    if (isfinite(fa) && isfinite(fbb)) {
        double pm = (double)fa * (double)fbb; /* exact: 48-bit product */
        count_hits(&st->hm, pm, 1, m);
        if (fbb != 0.0f) {
            double q = (double)fa / (double)fbb;
            count_hits(&st->hd, q, fma(q, (double)fbb, -(double)fa) == 0.0, d);
        }
    }
}

/* A float near 2^e (e may be below -126: then a subnormal) with a random
 * significand of `bits` significant bits (1..24), random sign. */
static uint32_t gen(int e, int bits)
{
    uint32_t sig = 0x800000u;
    if (bits > 1) {
        uint32_t frac = r32() & ((1u << (bits - 1)) - 1u);
        frac |= 1u; /* lowest significant bit set: exactly `bits` bits */
        sig |= frac << (24 - bits);
    }
    uint32_t s = r32() & 0x80000000u;
    if (e > 127)
        e = 127;
    if (e >= -126)
        return s | ((uint32_t)(e + 127) << 23) | (sig & 0x7FFFFFu);
    int k = -126 - e;
    if (k > 23)
        k = 23;
    return s | (sig >> k);
}

static void print_tally(const tally *t)
{
    printf("  %-8s %10llu checks, %llu mismatches\n", t->what, (unsigned long long)t->checked,
           (unsigned long long)t->bad);
}

static void test_mul_div_random(void **s)
{
    (void)s;
    arith_state st = arith_state_new();
    const char *names[8] = {"uniform bits", "near 1", "mul->subnormal", "div->subnormal",
                            "mul->overflow", "div->overflow", "mul ties", "div ties"};
    const int count[8] = {600000, 400000, 300000, 300000, 300000, 300000, 500000, 300000};
    uint64_t pairs = 0;
    for (int dist = 0; dist < 8; dist++) {
        for (int i = 0; i < count[dist]; i++) {
            uint32_t a = 0, b = 0;
            switch (dist) {
            case 0:
                a = r32();
                b = r32();
                break;
            case 1:
                a = gen(rint_in(-2, 1), 24);
                b = gen(rint_in(-2, 1), 24);
                break;
            case 2: { /* exponent of the product in [-152, -124] */
                int t = rint_in(-152, -124), ea = rint_in(-149, 127);
                int eb = t - ea;
                if (eb < -149 || eb > 127)
                    eb = t - (ea = t / 2);
                a = gen(ea, rint_in(1, 24));
                b = gen(eb, rint_in(1, 24));
                break;
            }
            case 3: { /* quotient exponent in [-152, -124] */
                int t = rint_in(-152, -124), eb = rint_in(-100, 127);
                int ea = t + eb;
                if (ea < -149)
                    ea = -149, eb = ea - t;
                a = gen(ea, rint_in(1, 24));
                b = gen(eb, rint_in(1, 24));
                break;
            }
            case 4: { /* product exponent in [124, 129] */
                int t = rint_in(124, 129), ea = rint_in(t - 127, 127);
                a = gen(ea, rint_in(1, 24));
                b = gen(t - ea, rint_in(1, 24));
                break;
            }
            case 5: { /* quotient exponent in [124, 129] */
                int t = rint_in(124, 129), eb = rint_in(-149, 127 - t);
                a = gen(t + eb, rint_in(1, 24));
                b = gen(eb, rint_in(1, 24));
                break;
            }
            case 6: { /* significands of ka + kb >= 25 bits: exact product often a tie; exponents
                         anywhere, including results in the subnormal range */
                int ka = rint_in(1, 24), kb = rint_in(25 - ka > 1 ? 25 - ka : 1, 24);
                if (i % 3 == 0)
                    ka = kb = 13; /* 12-bit mantissas */
                int t = rint_in(-155, 127), ea = rint_in(-126, 127);
                int eb = t - ea;
                if (eb < -126 || eb > 127)
                    eb = t - (ea = t / 2);
                a = gen(ea, ka);
                b = gen(eb, kb);
                break;
            }
            default: { /* a = q * b exactly with q = odd * 2^-150: a tie of the subnormal grid
                          (2^-149); some a nudged one ulp off the tie, some q at quarter points */
                int kq = rint_in(1, 23), kb = rint_in(1, 24 - kq);
                uint32_t odd = (1u << (kq - 1)) | (r32() & ((1u << (kq - 1)) - 1u)) | 1u;
                double q = ldexp((double)odd, -150 - (i % 8 == 7 ? 1 : 0));
                b = gen(rint_in(30, 120), kb);
                double av = q * (double)qk_float(b); /* exact: kq + kb <= 24 bits */
                a = qk_bits((float)av);
                assert_true((double)qk_float(a) == av);
                if (i % 8 == 6)
                    a += 1u;
                break;
            }
            }
            check_pair(&st, a, b);
            pairs++;
        }
        printf("  %-15s %7d pairs\n", names[dist], count[dist]);
    }
    printf("  %llu random pairs; results hit: mul %llu exact ties (%llu in the subnormal range), "
           "%llu subnormal, %llu inf, %llu zero; div %llu exact ties (%llu subnormal), %llu "
           "subnormal, %llu inf, %llu zero\n",
           (unsigned long long)pairs, (unsigned long long)st.hm.ties,
           (unsigned long long)st.hm.subnormal_ties,
           (unsigned long long)st.hm.subnormal, (unsigned long long)st.hm.overflow,
           (unsigned long long)st.hm.underflow_zero, (unsigned long long)st.hd.ties,
           (unsigned long long)st.hd.subnormal_ties,
           (unsigned long long)st.hd.subnormal, (unsigned long long)st.hd.overflow,
           (unsigned long long)st.hd.underflow_zero);
    print_tally(&st.mul);
    print_tally(&st.div);
    print_tally(&st.mulftz);
    print_tally(&st.gt);
    print_tally(&st.fmul);
    assert_true(pairs >= 3000000);
    assert_true(st.hm.ties > 10000 && st.hd.ties > 10000);
    assert_true(st.hm.subnormal_ties > 1000 && st.hd.subnormal_ties > 10000);
    assert_true(st.hm.subnormal > 10000 && st.hd.subnormal > 10000);
    assert_true(st.hm.overflow > 10000 && st.hd.overflow > 10000);
    assert_no_mismatches(&st);
}

static void test_special_combinations(void **s)
{
    (void)s;
    static const uint32_t base[] = {
        0x00000000u, /* 0 */
        0x00000001u, /* min subnormal */
        0x007FFFFFu, /* max subnormal */
        0x00800000u, /* min normal */
        0x3F800000u, /* 1 */
        0x7F7FFFFFu, /* max */
        0x7F800000u, /* inf */
    };
    static const uint32_t nans[] = {0x7FC00000u, 0x7F800001u, 0x7FBFFFFFu, 0x7FFFFFFFu};
    uint32_t v[32];
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        v[n++] = base[i];
        v[n++] = base[i] | 0x80000000u;
    }
    int nfin = n;
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        v[n++] = nans[i];
        v[n++] = nans[i] | 0x80000000u;
    }
    arith_state st = arith_state_new();
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            check_pair(&st, v[i], v[j]);
    /* specials against neighbours of the specials (one ulp in) */
    for (int i = 0; i < nfin; i++)
        for (int j = 0; j < nfin; j++) {
            uint32_t b = v[j];
            if ((b & 0x7FFFFFFFu) != 0u && (b & 0x7FFFFFFFu) < 0x7F800000u)
                check_pair(&st, v[i], b + ((b & 0x7FFFFFFFu) == 0x7F7FFFFFu ? -1 : 1));
        }
    /* exact known results */
    assert_true((qk_f32_mul(0x00000000u, 0xFF800000u) & 0x7FFFFFFFu) > 0x7F800000u); /* 0*inf */
    assert_int_equal(qk_f32_mul(0x80000000u, 0x3F800000u), 0x80000000u);
    assert_int_equal(qk_f32_mul(0x00000001u, 0x3F000000u), 0x00000000u);    /* 2^-150: tie to 0 */
    assert_int_equal(qk_f32_mul(0x00000003u, 0x3F000000u), 0x00000002u);    /* 1.5 ulp -> 2 */
    assert_int_equal(qk_f32_mul(0x7F7FFFFFu, 0x40000000u), 0x7F800000u);
    assert_int_equal(qk_f32_div(0x3F800000u, 0x80000000u), 0xFF800000u);
    assert_int_equal(qk_f32_div(0x00000001u, 0x40000000u), 0x00000000u);
    assert_int_equal(qk_f32_mul_ftz(0x00800000u, 0x3F000000u), 0x00000000u);
    assert_int_equal(qk_f32_mul_ftz(0x80800000u, 0x3F000000u), 0x80000000u);
    assert_int_equal(qk_f32_gt(0x00000000u, 0x80000000u), 0);
    assert_int_equal(qk_f32_gt(0x80000000u, 0x00000000u), 0);
    assert_int_equal(qk_f32_gt(0x00000001u, 0x80000000u), 1);
    printf("  %d special values (%d NaNs): %llu pairs checked, mul %llu / div %llu / mul_ftz %llu / "
           "gt %llu mismatches\n",
           n, n - nfin, (unsigned long long)st.mul.checked, (unsigned long long)st.mul.bad,
           (unsigned long long)st.div.bad, (unsigned long long)st.mulftz.bad,
           (unsigned long long)st.gt.bad);
    assert_no_mismatches(&st);
}

static void test_gt_and_ftz(void **s)
{
    (void)s;
    tally g = {"gt", 0, 0}, z = {"ftz", 0, 0};
    /* ordered comparison: pairs one ulp apart, equal pairs, mixed signs */
    for (int i = 0; i < 1000000; i++) {
        uint32_t a = r32();
        if (isnan(qk_float(a)))
            continue;
        uint32_t cands[4] = {a, a ^ 0x80000000u, a + 1u, a - 1u};
        for (int k = 0; k < 4; k++) {
            uint32_t b = cands[k];
            if (isnan(qk_float(b)))
                continue;
            g.checked++;
            if ((uint32_t)ngt(qk_float(a), qk_float(b)) != qk_f32_gt(a, b))
                tally_bad(&g, "gt(0x%08X, 0x%08X)", a, b);
        }
    }
    /* FTZ helper over a stride through all patterns */
    for (uint64_t x = 0; x <= 0xFFFFFFFFull; x += 4099u) {
        uint32_t u = (uint32_t)x;
        uint32_t want = fpclassify(qk_float(u)) == FP_SUBNORMAL ? (u & 0x80000000u) : u;
        z.checked++;
        if (qk_f32_ftz(u) != want)
            tally_bad(&z, "ftz(0x%08X): expected 0x%08X got 0x%08X", u, want, qk_f32_ftz(u));
    }
    for (uint32_t m = 0; m < 0x800000u; m += 1u + (m >> 4)) {
        z.checked += 2;
        if (qk_f32_ftz(m) != 0u || qk_f32_ftz(m | 0x80000000u) != 0x80000000u)
            tally_bad(&z, "ftz of subnormal 0x%08X", m);
    }
    print_tally(&g);
    print_tally(&z);
    assert_int_equal(g.bad, 0);
    assert_int_equal(z.bad, 0);
}

/* The documented model of qk_rcp_from_table: x = 1.m * 2^e (normal) gives the
 * entry (the reciprocal of 1.m) scaled by 2^-e, flushed to zero when below the
 * normal range; zero or subnormal x gives +inf. */
static uint32_t rcp_model(uint32_t entry, uint32_t x)
{
    float fx = qk_float(x);
    if (fpclassify(fx) == FP_ZERO || fpclassify(fx) == FP_SUBNORMAL)
        return 0x7F800000u;
    int e;
    (void)frexpf(fx, &e);
    e -= 1; /* x = 1.m * 2^e */
    double r = ldexp((double)qk_float(entry), -e); /* exact in double */
    if (r < (double)FLT_MIN)
        return 0u;
    if (r > (double)FLT_MAX)
        return 0x7F800000u;
    return qk_bits((float)r); /* exact: a normal f32 */
}

static void check_table(tally *t, const uint32_t *table, int mbits)
{
    for (uint32_t m = 0; m < (1u << mbits); m++) {
        uint32_t entry = table[m];
        for (uint32_t ex = 0; ex < 255u; ex++) {
            uint32_t x = (ex << 23) | (m << (23 - mbits));
            uint32_t want = rcp_model(entry, x), got = qk_rcp_from_table(entry, x);
            t->checked++;
            if (want != got)
                tally_bad(t, "rcp(entry 0x%08X, x 0x%08X): expected 0x%08X got 0x%08X", entry, x, want,
                          got);
            /* negative normal x (not an absmax): the result is the negated one */
            if (ex == 0u)
                continue;
            uint32_t gn = qk_rcp_from_table(entry, x | 0x80000000u);
            t->checked++;
            if (gn != (got | 0x80000000u))
                tally_bad(t, "rcp(entry 0x%08X, -x 0x%08X) = 0x%08X, not the negation of 0x%08X", entry,
                          x | 0x80000000u, gn, got);
        }
    }
}

static void test_rcp_from_table(void **s)
{
    (void)s;
    tally t = {"rcp", 0, 0};
    uint32_t t7[128], t10[1024];
    for (uint32_t m = 0; m < 128u; m++)
        t7[m] = qk_bits(ndiv(1.0f, 1.0f + (float)m / 128.0f)); /* correctly rounded 1/1.m */
    for (uint32_t m = 0; m < 1024u; m++)
        t10[m] = qk_bits(ndiv(1.0f, 1.0f + (float)m / 1024.0f));
    check_table(&t, t7, 7);
    check_table(&t, t10, 10);
    uint64_t own = t.checked;
    check_table(&t, qk_bnb_rcp_bf16, 7); /* the library's measured tables, same model */
    check_table(&t, qk_bnb_rcp_f16, 10);
    /* zero and subnormal x */
    static const uint32_t tiny[] = {0x00000000u, 0x00000001u, 0x00400000u, 0x007FFFFFu};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        t.checked++;
        if (qk_rcp_from_table(t7[0], tiny[i]) != 0x7F800000u)
            tally_bad(&t, "rcp(x 0x%08X) = 0x%08X, expected +inf", tiny[i],
                      qk_rcp_from_table(t7[0], tiny[i]));
    }
    assert_int_equal(qk_rcp_from_table(0x3F800000u, 0x7F000000u), 0x00000000u); /* 2^-127 flushed */
    assert_int_equal(qk_rcp_from_table(0x3F800000u, 0x7E800000u), 0x00800000u); /* 2^-126 kept */
    assert_int_equal(qk_rcp_from_table(0x3F800000u, 0x00800000u), 0x7E800000u); /* 2^126 */
    printf("  rcp_from_table: %llu checks (correctly rounded 7/10-bit tables: %llu; measured bnb "
           "tables: %llu), %llu mismatches\n",
           (unsigned long long)t.checked, (unsigned long long)own,
           (unsigned long long)(t.checked - own), (unsigned long long)t.bad);
    assert_int_equal(t.bad, 0);
}

static uint32_t nvfp4_want(uint32_t x, uint32_t t)
{
    return qk_f32_to_e2m1(qk_f32_clamp_abs(qk_f32_div(x, t), QK_F32_E2M1_MAX));
}

/* NVFP4's division-free code against the reference's division for scales
 * over the whole positive range (subnormals included) and elements at and
 * around each rounding boundary times the scale, random ones, zeros, Inf and
 * NaN. */
static void test_nvfp4_code_equals_division(void **st)
{
    (void)st;
    static const uint32_t bounds[] = {0x3E800000u, 0x3F400000u, 0x3FA00000u, 0x3FE00000u,
                                      0x40200000u, 0x40600000u, 0x40A00000u, 0x40C00000u}; /* 0.25 .. 6 */
    uint64_t bad = 0;
    for (int ti = 0; ti < 40000; ti++) {
        uint32_t t = r32() >> 1; /* any positive pattern below 2^31 */
        if (ti % 4 == 0)
            t &= 0x7FF00000u; /* short significands */
        if (t == 0u || t >= QK_F32_INF)
            continue;
        uint32_t c[7];
        for (uint32_t k = 0; k < 7; k++)
            c[k] = qk_nvfp4_bound(k, qk_f32_exp_norm(t), qk_f32_sig_norm(t));
        for (int j = 0; j < 120; j++) {
            uint32_t x;
            if (j < 8 * 11) { /* RN(m * t) - 5 .. + 5 ulps */
                x = qk_f32_mul(bounds[j / 11], t) + (uint32_t)(j % 11) - 5u;
                if (x >= QK_F32_INF)
                    x = QK_F32_MAX;
            } else if (j < 116) {
                x = r32();
            } else {
                static const uint32_t sp[] = {0u, 0x80000000u, QK_F32_INF, 0xFFC00001u};
                x = sp[j - 116];
            }
            if (j & 1)
                x ^= QK_F32_SIGN;
            uint32_t got = qk_nvfp4_code(x, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
            uint32_t want = nvfp4_want(x, t);
            if (got != want && bad++ < 5)
                printf("  MISMATCH nvfp4 x=%08x t=%08x: got %x want %x\n", x, t, got, want);
        }
    }
    assert_int_equal(bad, 0);
}

/* qk_halves_nonzero_below against its definition, half by half: every
 * value of each half beside each of these in the other, for bounds at both
 * ends of the range, bf16's subnormal bound (0x80, as the CUDA NF4/FP4
 * kernel uses it), f16's (0x400) and bf16 exponent bounds as the Vulkan and
 * OpenCL kernels make them. */
static void test_halves_nonzero_below(void **state)
{
    (void)state;
    static const uint32_t others[] = {0x0000u, 0x8000u, 0x0001u, 0x807Fu, 0x0040u, 0x0080u, 0x8080u, 0x3F80u,
                                      0xBF80u, 0x7F7Fu, 0x7F80u, 0xFF80u, 0x7FC0u, 0xFFFFu, 0x00FFu, 0x7FFFu};
    static const uint32_t bounds[] = {1u, 2u, 0x80u, 0x81u, 0x400u, 0x1000u, 0x3F80u, 0x7F80u, 0x7FFFu, 0x8000u};
    uint64_t bad = 0;
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++)
        for (size_t o = 0; o < sizeof others / sizeof *others; o++)
            for (uint32_t h = 0; h < 0x10000u; h++)
                for (int side = 0; side < 2; side++) {
                    uint32_t hw = side ? others[o] : h, lw = side ? h : others[o], t = bounds[b];
                    uint32_t w = (hw << 16) | lw, want = 0u;
                    if ((lw & 0x7FFFu) != 0u && (lw & 0x7FFFu) < t)
                        want |= 0x8000u;
                    if ((hw & 0x7FFFu) != 0u && (hw & 0x7FFFu) < t)
                        want |= 0x80000000u;
                    bad += qk_halves_nonzero_below(w, t) != want;
                }
    assert_int_equal(bad, 0);
}

/* MXFP8's scale exponent without the division (qk_mxfp8_exponent_fast)
 * against ref_mxfp8.c's division and ceiling: every bf16 and every f16
 * amax from 2^-100 up, and in every binade the 2^12 values around 1.75. */
static uint32_t mxfp8_exponent_by_division(uint32_t a)
{
    uint32_t s = qk_fdiv(a, QK_F32_E4M3_MAX);
    return qk_e8m0_ceil(s < QK_F32_E8M0_MIN ? QK_F32_E8M0_MIN : s);
}

static void test_mxfp8_exponent_fast(void **state)
{
    (void)state;
    const uint32_t lowest = 0x0D800000u; /* 2^-100 */
    uint64_t bad = 0, n = 0;
    for (uint32_t h = 0; h < 0x7F80u; h++) { /* bf16 */
        uint32_t a = h << 16;
        if (a >= lowest) {
            bad += qk_mxfp8_exponent_fast(a) != mxfp8_exponent_by_division(a);
            n++;
        }
    }
    for (uint32_t h = 0; h < 0x7C00u; h++) { /* f16: all >= 2^-24 */
        float f = ldexpf((float)(h & 0x3FFu) + (h >= 0x400u ? 1024.0f : 0.0f), (h >= 0x400u ? (int)(h >> 10) : 1) - 25);
        uint32_t a;
        memcpy(&a, &f, 4);
        if (a != 0u) {
            bad += qk_mxfp8_exponent_fast(a) != mxfp8_exponent_by_division(a);
            n++;
        }
    }
    for (uint32_t e = lowest >> 23; e < 255u; e++)
        for (uint32_t m = 0x600000u - 2048u; m < 0x600000u + 2048u; m++) {
            uint32_t a = (e << 23) | m;
            bad += qk_mxfp8_exponent_fast(a) != mxfp8_exponent_by_division(a);
            n++;
        }
    printf("mxfp8 exponent: %llu amax values, %llu differ\n", (unsigned long long)n, (unsigned long long)bad);
    assert_true(n > 900000u);
    assert_int_equal(bad, 0);
}

/* The device group kernels divide the int8 codes of bf16/f16 input by the
 * divisor's reciprocal (cuda/k_group_quantize.cuh, shaders/opencl/
 * scaled_groups16.cl) without a division fallback or a clamp: that needs
 * every divisor qk_scaled_group_factor gives a 16-bit group to lie in
 * [2^-126, 2^122), where its reciprocal and every step stay normal, and
 * the group's elements (at most its amax) to be at most 256 times it.
 * Checked for every finite 16-bit amax, int8 per row and blockwise. A
 * blockwise divisor of 0 codes zeros without dividing. */
static void test_int8_group_divisors(void **state)
{
    (void)state;
    static const qk_format fmts[] = {QK_FORMAT_INT8_TENSORWISE, QK_FORMAT_INT8_BLOCKWISE};
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16};
    uint64_t n = 0, bad = 0;
    for (int f = 0; f < 2; f++)
        for (int t = 0; t < 2; t++) {
            qk_params p;
            qk_params_default(fmts[f], &p);
            p.scaling = fmts[f] == QK_FORMAT_INT8_TENSORWISE ? QK_SCALING_ROW : p.scaling;
            qk_ref_args a = {NULL, &p, dts[t], 1, 1};
            uint32_t top = dts[t] == QK_DTYPE_BF16 ? 0x7F80u : 0x7C00u;
            for (uint32_t h = 0; h < top; h++) {
                uint32_t amax = dts[t] == QK_DTYPE_BF16 ? qk_bf16_to_f32(h) : qk_f16_to_f32(h), scale;
                uint32_t d = qk_scaled_group_factor(&a, amax, &scale);
                n++;
                if (d == 0u && fmts[f] == QK_FORMAT_INT8_BLOCKWISE)
                    continue;
                float df, af;
                memcpy(&df, &d, 4);
                memcpy(&af, &amax, 4);
                bad += !(d >= 0x00800000u && d < 0x7C800000u && (double)af <= 256.0 * (double)df);
            }
        }
    printf("int8 group divisors: %llu amax values, %llu without a reciprocal or below amax / 256\n",
           (unsigned long long)n, (unsigned long long)bad);
    assert_int_equal(n, 2u * (0x7F80u + 0x7C00u));
    assert_int_equal(bad, 0);
}

/* The f16 ConvRot codes of the Vulkan _f16d shader (code_pair) and the
 * OpenCL native rows (cr_code_f16_pair) take no clamp where the row's
 * divisor d is a normal f16: T(RN(x RN(1/d))) rounds to an integer in
 * [-127, 127] for every |x| <= amax. The quotient grows with |x|, so
 * x = amax is the worst case; checked for every finite f16 amax whose
 * int8 row divisor is normal, with the host's IEEE products. */
static void test_f16_int8_codes_unclamped(void **state)
{
    (void)state;
    qk_params p;
    qk_params_default(QK_FORMAT_INT8_TENSORWISE, &p);
    p.scaling = QK_SCALING_ROW;
    qk_ref_args a = {NULL, &p, QK_DTYPE_F16, 1, 1};
    uint64_t n = 0, bad = 0;
    for (uint32_t h = 0; h < 0x7C00u; h++) {
        uint32_t amax = qk_f16_to_f32(h), scale, d = qk_scaled_group_factor(&a, amax, &scale);
        if (d < 0x38800000u) /* 2^-14: f16 subnormal divisors keep both clamps */
            continue;
        float df, af;
        memcpy(&df, &d, 4);
        memcpy(&af, &amax, 4);
        float q0 = nmul(af, ndiv(1.0f, df));
        uint32_t qb, t;
        memcpy(&qb, &q0, 4);
        t = qk_f16_to_f32(qk_f32_to_f16(qb)); /* T(q0), RTE */
        float tf;
        memcpy(&tf, &t, 4);
        n++;
        bad += !(tf <= 127.0625f && nearbyintf(tf) <= 127.0f);
    }
    printf("f16 int8 codes without a clamp: %llu amax values with a normal divisor, %llu past 127.0625\n",
           (unsigned long long)n, (unsigned long long)bad);
    assert_true(n > 20000u);
    assert_int_equal(bad, 0);
}

/* The Vulkan and OpenCL ConvRot shaders round to bf16 by Veltkamp's split
 * (qk_bf16_round_split, cr_round_bf16_split): c = RN(x (2^16 + 1)), h =
 * RN(c - RN(c - x)). h must be the bits' rounding (to nearest, ties to
 * even at bit 16) for every zero or normal x below 2^111, where the
 * shaders use it; every positive one is checked (both roundings are odd
 * functions). A factor 2^17 + 1 (wrong split point) fails here. */
static uint32_t bf16_split(uint32_t b)
{
    float x, h;
    memcpy(&x, &b, 4);
    float c = x * 65537.0f;
    float d = c - x;
    h = c - d;
    uint32_t r;
    memcpy(&r, &h, 4);
    return r;
}

static void test_bf16_round_split(void **state)
{
    (void)state;
    uint64_t n = 1, bad = bf16_split(0u) != 0u;
    for (uint32_t b = 0x00800000u; b < 0x77000000u; b++, n++) /* 2^-126 .. 2^111 */
        bad += bf16_split(b) != ((b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u);
    printf("bf16 rounding by Veltkamp's split: %llu values checked, %llu differ\n", (unsigned long long)n,
           (unsigned long long)bad);
    assert_int_equal(n, 0x77000000u - 0x00800000u + 1u);
    assert_int_equal(bad, 0);
}

int main(void)
{
    assert_int_equal(fesetenv(FE_DFL_ENV), 0); /* IEEE: round to nearest, no FTZ/DAZ */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul_div_random),
        cmocka_unit_test(test_special_combinations),
        cmocka_unit_test(test_gt_and_ftz),
        cmocka_unit_test(test_rcp_from_table),
        cmocka_unit_test(test_halves_nonzero_below),
        cmocka_unit_test(test_mxfp8_exponent_fast),
        cmocka_unit_test(test_nvfp4_code_equals_division),
        cmocka_unit_test(test_int8_group_divisors),
        cmocka_unit_test(test_f16_int8_codes_unclamped),
        cmocka_unit_test(test_bf16_round_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
