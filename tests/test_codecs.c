/* Exhaustive conformance of the integer small-float codec (src/codec/qk_codec.h).
 *
 * Every encoder is checked against an independent brute-force reference: the
 * target format's codes are decoded to doubles from the format definition
 * (sign, exponent bits, mantissa bits, bias, special-value convention), sorted,
 * and the input is given the nearest code with ties to the even code, then the
 * documented overflow/NaN rule of each format is applied. Inputs: every f16 and
 * bf16 pattern, a dense stride through all f32 exponents and high mantissa
 * bits, random patterns, every representable value / midpoint / neighbour of a
 * midpoint of every format, all f32 subnormals and NaN payloads. Decoders are
 * checked against the double decoder, anchor digests of torch / comfy-kitchen
 * conversions are recomputed, and the E8M0, int-rounding and bitsandbytes
 * 4-bit helpers are compared with exact references. */
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec/qk_codec.h"
#include "tally.h"

/* ------------------------------------------------------------------ helpers */

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t xorshift64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static uint32_t rand32(void) { return (uint32_t)(xorshift64() >> 32); }

static int is_nan_bits(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }

/* Low 12 mantissa bit patterns of the dense f32 sample. */
static const uint32_t dense_low[] = {0x000u, 0x001u, 0x7FFu, 0x800u, 0x801u, 0xFFFu};
#define DENSE_N ((uint32_t)(sizeof dense_low / sizeof dense_low[0]) << 20)

static uint32_t dense_at(uint32_t i)
{
    uint32_t hi = i / (uint32_t)(sizeof dense_low / sizeof dense_low[0]);
    uint32_t lo = dense_low[i % (uint32_t)(sizeof dense_low / sizeof dense_low[0])];
    return (hi << 12) | lo;
}

static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }


/* -------------------------------------------- independent format reference */

enum { SPECIAL_IEEE, SPECIAL_FN, SPECIAL_NONE };

typedef struct {
    const char *name;
    int ebits, mbits, bias, special;
    uint32_t nan_code;   /* code for NaN inputs (before the sign) */
    int nan_signed;      /* NaN code carries the input's sign */
    uint32_t inf_code;   /* code for +-Inf inputs (before the sign) */
    uint32_t ovf_code;   /* code for finite inputs rounding past max */
    uint32_t (*enc)(uint32_t);
    uint32_t (*dec)(uint32_t);
    /* derived: sorted positive finite codes */
    int nbits, npos;
    double *val;
    uint32_t *code;
    double max, max_half_ulp;
    uint32_t max_code;
} fmtdef;

static uint32_t enc_e4m3(uint32_t a) { return qk_f32_to_e4m3(a); }
static uint32_t enc_e5m2(uint32_t a) { return qk_f32_to_e5m2(a); }
static uint32_t enc_e2m1(uint32_t a) { return qk_f32_to_e2m1(a); }
static uint32_t enc_f16(uint32_t a) { return qk_f32_to_f16(a); }
static uint32_t enc_bf16(uint32_t a) { return qk_f32_to_bf16(a); }
static uint32_t dec_e4m3(uint32_t c) { return qk_e4m3_to_f32(c); }
static uint32_t dec_e5m2(uint32_t c) { return qk_e5m2_to_f32(c); }
static uint32_t dec_e2m1(uint32_t c) { return qk_e2m1_to_f32(c); }
static uint32_t dec_f16(uint32_t c) { return qk_f16_to_f32(c); }
static uint32_t dec_bf16(uint32_t c) { return qk_bf16_to_f32(c); }

enum { F_E4M3, F_E5M2, F_E2M1, F_F16, F_BF16, NFMT };

static fmtdef fmts[NFMT] = {
    {"e4m3fn", 4, 3, 7, SPECIAL_FN, 0x7Fu, 1, 0x7Fu, 0x7Fu, enc_e4m3, dec_e4m3, 0, 0, NULL, NULL, 0, 0, 0},
    {"e5m2", 5, 2, 15, SPECIAL_IEEE, 0x7Fu, 1, 0x7Cu, 0x7Cu, enc_e5m2, dec_e5m2, 0, 0, NULL, NULL, 0, 0, 0},
    /* E2M1 has no specials: NaN and Inf saturate to 6 (code 7), as does overflow. */
    {"e2m1", 2, 1, 1, SPECIAL_NONE, 0x7u, 1, 0x7u, 0x7u, enc_e2m1, dec_e2m1, 0, 0, NULL, NULL, 0, 0, 0},
    {"f16", 5, 10, 15, SPECIAL_IEEE, 0x7E00u, 1, 0x7C00u, 0x7C00u, enc_f16, dec_f16, 0, 0, NULL, NULL, 0, 0, 0},
    {"bf16", 8, 7, 127, SPECIAL_IEEE, 0x7FC0u, 0, 0x7F80u, 0x7F80u, enc_bf16, dec_bf16, 0, 0, NULL, NULL, 0, 0, 0},
};

enum { K_FINITE, K_INF, K_NAN };

/* Decodes a code of format f from the format definition alone. */
static double ref_decode(const fmtdef *f, uint32_t c, int *kind)
{
    uint32_t emask = (1u << f->ebits) - 1u, mmask = (1u << f->mbits) - 1u;
    int neg = (c >> (f->ebits + f->mbits)) & 1u;
    uint32_t e = (c >> f->mbits) & emask, m = c & mmask;
    *kind = K_FINITE;
    if (f->special == SPECIAL_IEEE && e == emask) {
        *kind = m == 0u ? K_INF : K_NAN;
        return m == 0u ? (neg ? -INFINITY : INFINITY) : NAN;
    }
    if (f->special == SPECIAL_FN && e == emask && m == mmask) {
        *kind = K_NAN;
        return NAN;
    }
    double v = e == 0u ? ldexp((double)m, 1 - f->bias - f->mbits)
                       : ldexp((double)((1u << f->mbits) + m), (int)e - f->bias - f->mbits);
    return neg ? -v : v;
}

static const double *sort_vals;
static int cmp_by_val(const void *a, const void *b)
{
    double x = sort_vals[*(const uint32_t *)a], y = sort_vals[*(const uint32_t *)b];
    return x < y ? -1 : x > y ? 1 : 0;
}

static void fmt_init(fmtdef *f)
{
    if (f->val)
        return;
    f->nbits = 1 + f->ebits + f->mbits;
    uint32_t half = 1u << (f->nbits - 1);
    double *all = malloc(sizeof(double) * half);
    uint32_t *idx = malloc(sizeof(uint32_t) * half);
    assert_non_null(all);
    assert_non_null(idx);
    int n = 0;
    for (uint32_t c = 0; c < half; c++) {
        int k;
        all[c] = ref_decode(f, c, &k);
        if (k == K_FINITE)
            idx[n++] = c;
    }
    sort_vals = all;
    qsort(idx, (size_t)n, sizeof(uint32_t), cmp_by_val);
    f->npos = n;
    f->val = malloc(sizeof(double) * (size_t)n);
    f->code = malloc(sizeof(uint32_t) * (size_t)n);
    assert_non_null(f->val);
    assert_non_null(f->code);
    for (int i = 0; i < n; i++) {
        f->val[i] = all[idx[i]];
        f->code[i] = idx[i];
        if (i > 0)
            assert_true(f->val[i] > f->val[i - 1]); /* distinct values */
    }
    assert_true(f->val[0] == 0.0);
    f->max = f->val[n - 1];
    f->max_code = f->code[n - 1];
    f->max_half_ulp = (f->val[n - 1] - f->val[n - 2]) / 2.0;
    free(all);
    free(idx);
}

/* Brute-force encoder: nearest code, ties to the even code, then the format's
 * documented overflow / Inf / NaN rule. */
static uint32_t ref_encode(const fmtdef *f, uint32_t x)
{
    uint32_t sgn = (x >> 31) ? (1u << (f->nbits - 1)) : 0u;
    float xf = bitsf(x);
    if (isnan(xf))
        return f->nan_code | (f->nan_signed ? sgn : 0u);
    if (isinf(xf))
        return f->inf_code | sgn;
    double a = fabs((double)xf);
    if (a > f->max) {
        double edge = f->max + f->max_half_ulp;
        /* The code above max would be max_code + 1: a tie goes up when it is even. */
        int over = a > edge || (a == edge && (f->max_code & 1u) != 0u);
        return (over ? f->ovf_code : f->max_code) | sgn;
    }
    int lo = 0, hi = f->npos - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f->val[mid] <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (f->val[lo] == a || lo == f->npos - 1)
        return f->code[lo] | sgn;
    double mid = (f->val[lo] + f->val[lo + 1]) / 2.0; /* exact */
    uint32_t c;
    if (a < mid)
        c = f->code[lo];
    else if (a > mid)
        c = f->code[lo + 1];
    else
        c = (f->code[lo] & 1u) == 0u ? f->code[lo] : f->code[lo + 1];
    return c | sgn;
}

static void init_all(void)
{
    for (int i = 0; i < NFMT; i++)
        fmt_init(&fmts[i]);
}

/* Widens a 16-bit pattern to f32 bits from the format definition. */
static uint32_t widen16(const fmtdef *f, uint32_t h)
{
    int k;
    double v = ref_decode(f, h, &k);
    if (k == K_NAN) {
        /* Widening keeps sign and payload; f16 NaNs come out quiet (x86 F16C
         * and torch's conversion do; qk_f16_to_f32 documents the same), bf16
         * widening is a plain 16-bit shift. */
        uint32_t sign = (h & 0x8000u) << 16;
        uint32_t quiet = f->mbits == 10 ? 0x00400000u : 0u;
        return sign | 0x7F800000u | quiet | ((h & ((1u << f->mbits) - 1u)) << (23 - f->mbits));
    }
    return fbits((float)v); /* exact; (float)-0.0 keeps the sign */
}

static void check_enc_all(tally *t, uint32_t x)
{
    for (int i = 0; i < NFMT; i++) {
        const fmtdef *f = &fmts[i];
        uint32_t want = ref_encode(f, x), got = f->enc(x);
        t->checked++;
        if (want != got)
            tally_bad(t, "f32 0x%08X -> %s: expected 0x%04X, got 0x%04X", x, f->name, want, got);
    }
}

/* ------------------------------------------------ 1. all f16 / bf16 inputs */

static void test_encoders_all_16bit_inputs(void **s)
{
    (void)s;
    init_all();
    double t0 = seconds();
    tally t = {"16-bit inputs", 0, 0};
    tally w = {"widening", 0, 0};
    for (uint32_t h = 0; h < 65536u; h++) {
        uint32_t x16 = widen16(&fmts[F_F16], h), xb = widen16(&fmts[F_BF16], h);
        w.checked += 2;
        if (xb != (h << 16))
            tally_bad(&w, "bf16 0x%04X widened to 0x%08X", h, xb);
        if (x16 != qk_f16_to_f32(h))
            tally_bad(&w, "f16 0x%04X: reference 0x%08X, qk_f16_to_f32 0x%08X", h, x16, qk_f16_to_f32(h));
        check_enc_all(&t, x16);
        check_enc_all(&t, xb);
    }
    printf("  all f16 and bf16 patterns x 5 encoders: %llu checks, %llu mismatches (%.2fs)\n",
           (unsigned long long)t.checked, (unsigned long long)t.bad, seconds() - t0);
    assert_int_equal(w.bad, 0);
    assert_int_equal(t.bad, 0);
}

static void test_decoders_round_trip(void **s)
{
    (void)s;
    init_all();
    tally t = {"decoders", 0, 0};
    uint64_t finite = 0, nan = 0;
    for (int i = 0; i < NFMT; i++) {
        const fmtdef *f = &fmts[i];
        for (uint32_t c = 0; c < (1u << f->nbits); c++) {
            int k;
            double v = ref_decode(f, c, &k);
            uint32_t got = f->dec(c);
            t.checked++;
            if (k == K_NAN) {
                nan++;
                /* any NaN with the code's sign; encoding it gives the NaN rule's code */
                if (!is_nan_bits(got) || (got >> 31) != (c >> (f->nbits - 1)))
                    tally_bad(&t, "%s NaN code 0x%X decoded to 0x%08X", f->name, c, got);
                uint32_t back = f->enc(got), want = ref_encode(f, got);
                if (back != want)
                    tally_bad(&t, "%s NaN code 0x%X re-encoded to 0x%X, rule gives 0x%X", f->name, c,
                              back, want);
                continue;
            }
            finite++;
            uint32_t want = fbits((float)v);
            if ((double)(float)v != v)
                tally_bad(&t, "%s code 0x%X: value %.17g not exact in f32", f->name, c, v);
            if (got != want)
                tally_bad(&t, "%s code 0x%X: expected f32 0x%08X, got 0x%08X", f->name, c, want, got);
            uint32_t back = f->enc(got);
            if (back != c)
                tally_bad(&t, "%s round trip of code 0x%X: f32 0x%08X re-encoded to 0x%X", f->name, c,
                          got, back);
        }
    }
    printf("  decoders: %llu codes (%llu non-NaN round-tripped, %llu NaN), %llu mismatches\n",
           (unsigned long long)t.checked, (unsigned long long)finite, (unsigned long long)nan,
           (unsigned long long)t.bad);
    assert_int_equal(t.bad, 0);
}

/* ------------------------------------------------------- 2. f32 inputs */

static void test_encoders_f32_dense_and_random(void **s)
{
    (void)s;
    init_all();
    double t0 = seconds();
    tally t = {"dense f32", 0, 0};
    for (uint32_t i = 0; i < DENSE_N; i++)
        check_enc_all(&t, dense_at(i));
    uint64_t dense = t.checked;
    rng_state = 0x0123456789ABCDEFull;
    for (int i = 0; i < 1000000; i++)
        check_enc_all(&t, rand32());
    printf("  dense f32 sample (%u inputs) + 10^6 random: %llu + %llu checks, %llu mismatches (%.2fs)\n",
           DENSE_N, (unsigned long long)dense, (unsigned long long)(t.checked - dense),
           (unsigned long long)t.bad, seconds() - t0);
    assert_int_equal(t.bad, 0);
}

static void test_encoders_f32_boundaries(void **s)
{
    (void)s;
    init_all();
    double t0 = seconds();
    tally t = {"boundaries", 0, 0};
    tally ex = {"midpoint exactness", 0, 0};
    uint64_t points = 0;
    for (int i = 0; i < NFMT; i++) {
        const fmtdef *f = &fmts[i];
        for (int j = 0; j < f->npos; j++) {
            double v = f->val[j];
            double mid = j + 1 < f->npos ? (f->val[j] + f->val[j + 1]) / 2.0 : f->max + f->max_half_ulp;
            float mf = (float)mid;
            ex.checked++;
            if ((double)mf != mid)
                tally_bad(&ex, "%s midpoint %.17g not exact in f32", f->name, mid);
            float pts[10];
            pts[0] = (float)v;
            pts[1] = nextafterf((float)v, -INFINITY);
            pts[2] = nextafterf((float)v, INFINITY);
            pts[3] = mf;
            pts[4] = nextafterf(mf, -INFINITY);
            pts[5] = nextafterf(mf, INFINITY);
            pts[6] = nextafterf(pts[4], -INFINITY);
            pts[7] = nextafterf(pts[5], INFINITY);
            pts[8] = bitsf(fbits(mf) - 0x100u); /* a little further off */
            pts[9] = bitsf(fbits(mf) + 0x100u);
            for (int k = 0; k < 10; k++) {
                uint32_t b = fbits(pts[k]) & 0x7FFFFFFFu;
                if (b > 0x7F800000u)
                    continue;
                check_enc_all(&t, b);
                check_enc_all(&t, b | 0x80000000u);
                points += 2;
            }
        }
    }
    printf("  representable values, midpoints and their neighbours of all formats: %llu inputs, "
           "%llu checks, %llu mismatches\n",
           (unsigned long long)points, (unsigned long long)t.checked, (unsigned long long)t.bad);

    /* every f32 subnormal, both signs */
    tally sub = {"subnormal f32", 0, 0};
    for (uint32_t m = 1; m < 0x800000u; m++) {
        check_enc_all(&sub, m);
        check_enc_all(&sub, m | 0x80000000u);
    }
    printf("  all 2x(2^23-1) f32 subnormals: %llu checks, %llu mismatches\n",
           (unsigned long long)sub.checked, (unsigned long long)sub.bad);

    /* zeros, infinities, NaNs with payloads */
    tally sp = {"specials", 0, 0};
    static const uint32_t specials[] = {0x00000000u, 0x7F800000u, 0x7F800001u, 0x7F800002u,
                                        0x7FBFFFFFu, 0x7FA00000u, 0x7FC00000u, 0x7FC00001u,
                                        0x7FD55555u, 0x7FE00000u, 0x7FFFFFFFu, 0x7F801000u,
                                        0x7F7FFFFFu, 0x00800000u, 0x007FFFFFu, 0x00000001u};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        check_enc_all(&sp, specials[k]);
        check_enc_all(&sp, specials[k] | 0x80000000u);
    }
    rng_state = 0xDEADBEEFCAFEF00Dull;
    for (int k = 0; k < 100000; k++) {
        uint32_t payload = rand32() & 0x7FFFFFu;
        if (payload == 0)
            payload = 1;
        check_enc_all(&sp, (rand32() & 0x80000000u) | 0x7F800000u | payload);
    }
    /* spot checks of the documented special codes themselves */
    assert_int_equal(qk_f32_to_e4m3(0x7F800000u), 0x7F);
    assert_int_equal(qk_f32_to_e4m3(0xFFC00000u), 0xFF);
    assert_int_equal(qk_f32_to_e4m3(fbits(464.0f)), 0x7E);
    assert_int_equal(qk_f32_to_e4m3(fbits(nextafterf(464.0f, 1e9f))), 0x7F);
    assert_int_equal(qk_f32_to_e5m2(fbits(61440.0f)), 0x7C);
    assert_int_equal(qk_f32_to_e5m2(fbits(nextafterf(61440.0f, 0.0f))), 0x7B);
    assert_int_equal(qk_f32_to_e5m2(0xFFC00000u), 0xFF);
    assert_int_equal(qk_f32_to_e2m1(0x80000000u), 0x8);
    assert_int_equal(qk_f32_to_e2m1(0xFF800000u), 0xF);
    assert_int_equal(qk_f32_to_e2m1(fbits(1e30f)), 0x7);
    assert_int_equal(qk_f32_to_f16(0xFFC00001u), 0xFE00);
    assert_int_equal(qk_f32_to_f16(fbits(65520.0f)), 0x7C00);
    assert_int_equal(qk_f32_to_f16(fbits(nextafterf(65520.0f, 0.0f))), 0x7BFF);
    assert_int_equal(qk_f32_to_bf16(0xFFC00001u), 0x7FC0);
    assert_int_equal(qk_f32_to_bf16(0x7F7FFFFFu), 0x7F80);
    printf("  specials (%d fixed incl. +-0, +-inf, NaN payloads, x2 signs; 100000 random NaN payloads): "
           "%llu checks, %llu mismatches (%.2fs total)\n",
           (int)(sizeof specials / sizeof specials[0]), (unsigned long long)sp.checked, (unsigned long long)sp.bad, seconds() - t0);
    assert_int_equal(ex.bad, 0);
    assert_int_equal(t.bad, 0);
    assert_int_equal(sub.bad, 0);
    assert_int_equal(sp.bad, 0);
}

/* ------------------------------------------------------ 3. anchor digests */

typedef struct {
    uint64_t h;
} fnv;

static void fnv_init(fnv *f) { f->h = 0xCBF29CE484222325ull; }

static void fnv_bytes(fnv *f, uint32_t v, int n) /* n bytes of v, little-endian */
{
    for (int i = 0; i < n; i++) {
        f->h ^= (v >> (8 * i)) & 0xFFu;
        f->h *= 0x100000001B3ull;
    }
}

enum { SRC_F16, SRC_BF16, SRC_BOTH, SRC_E4M3, SRC_E5M2 };
enum { OP_E4M3, OP_E5M2, OP_BF16, OP_F16, OP_E2M1, OP_E2M1_CL, OP_DEC };

/* Variants of qk's outputs used to localise a mismatch. VAR_DEC_NAN_QUIET
 * changes only the outputs for NaN codes (IEEE widening: sign and payload kept,
 * quiet bit set); a match under it proves every non-NaN output equal. */
enum { VAR_QK, VAR_E4M3_SAT, VAR_E4M3_INF_SAT, VAR_DEC_NAN_QUIET };

static uint32_t digest_src_n(int src)
{
    return src == SRC_BOTH ? 131072u : (src == SRC_E4M3 || src == SRC_E5M2) ? 256u : 65536u;
}

static uint32_t digest_input(int src, uint32_t i)
{
    switch (src) {
    case SRC_F16: return qk_f16_to_f32(i);
    case SRC_BF16: return qk_bf16_to_f32(i);
    case SRC_BOTH: return i < 65536u ? qk_f16_to_f32(i) : qk_bf16_to_f32(i - 65536u);
    default: return i;
    }
}

static uint32_t digest_output(int src, int op, uint32_t x, int variant, int *nbytes)
{
    switch (op) {
    case OP_E4M3: {
        *nbytes = 1;
        uint32_t c = qk_f32_to_e4m3(x);
        uint32_t a = x & 0x7FFFFFFFu;
        if (variant == VAR_E4M3_SAT && a <= 0x7F800000u && (c & 0x7Fu) == 0x7Fu)
            c = (c & 0x80u) | 0x7Eu; /* overflow and Inf saturate to 448 */
        if (variant == VAR_E4M3_INF_SAT && a == 0x7F800000u)
            c = (c & 0x80u) | 0x7Eu; /* only Inf saturates */
        return c;
    }
    case OP_E5M2: *nbytes = 1; return qk_f32_to_e5m2(x);
    case OP_BF16: *nbytes = 2; return qk_f32_to_bf16(x);
    case OP_F16: *nbytes = 2; return qk_f32_to_f16(x);
    case OP_E2M1: *nbytes = 1; return qk_f32_to_e2m1(x);
    case OP_E2M1_CL: *nbytes = 1; return qk_f32_to_e2m1(qk_f32_clamp_abs(x, QK_F32_E2M1_MAX));
    default: {
        *nbytes = 4;
        uint32_t y = src == SRC_E4M3 ? qk_e4m3_to_f32(x) : qk_e5m2_to_f32(x);
        if (variant == VAR_DEC_NAN_QUIET && is_nan_bits(y)) {
            int mb = src == SRC_E4M3 ? 3 : 2;
            y = ((x & 0x80u) << 24) | 0x7FC00000u | ((x & ((1u << mb) - 1u)) << (23 - mb));
        }
        return y;
    }
    }
}

static uint64_t digest(int src, int op, int non_nan, int variant)
{
    fnv f;
    fnv_init(&f);
    for (uint32_t i = 0; i < digest_src_n(src); i++) {
        uint32_t x = digest_input(src, i);
        if (non_nan && src <= SRC_BOTH && is_nan_bits(x))
            continue;
        int nb;
        uint32_t y = digest_output(src, op, x, variant, &nb);
        fnv_bytes(&f, y, nb);
    }
    return f.h;
}

/* Parses "f16->e4m3fn[:non_nan]" etc.; 0 if the name is not known. */
static int parse_digest_name(const char *name, int *src, int *op, int *non_nan)
{
    char buf[64];
    if (strlen(name) >= sizeof buf)
        return 0;
    strcpy(buf, name);
    *non_nan = 0;
    char *colon = strchr(buf, ':');
    if (colon) {
        if (strcmp(colon, ":non_nan") != 0)
            return 0;
        *colon = 0;
        *non_nan = 1;
    }
    char *arrow = strstr(buf, "->");
    if (!arrow)
        return 0;
    *arrow = 0;
    const char *a = buf, *b = arrow + 2;
    if (!strcmp(a, "f16"))
        *src = SRC_F16;
    else if (!strcmp(a, "bf16"))
        *src = SRC_BF16;
    else if (!strcmp(a, "f32"))
        *src = SRC_BOTH;
    else if (!strcmp(a, "e4m3fn"))
        *src = SRC_E4M3;
    else if (!strcmp(a, "e5m2"))
        *src = SRC_E5M2;
    else
        return 0;
    if (*src == SRC_E4M3 || *src == SRC_E5M2) {
        *op = OP_DEC;
        return !strcmp(b, "f32") && !*non_nan;
    }
    if (!strcmp(b, "e4m3fn"))
        *op = OP_E4M3;
    else if (!strcmp(b, "e5m2"))
        *op = OP_E5M2;
    else if (!strcmp(b, "bf16") && *src != SRC_BF16)
        *op = OP_BF16;
    else if (!strcmp(b, "f16") && *src != SRC_F16)
        *op = OP_F16;
    else if (!strcmp(b, "e2m1") && *src != SRC_BOTH)
        *op = OP_E2M1;
    else if (!strcmp(b, "e2m1_clamped") && *src != SRC_BOTH)
        *op = OP_E2M1_CL;
    else
        return 0;
    return 1;
}

static uint64_t parse_hex64(const char *s, int *ok)
{
    *ok = 0;
    if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) != 18)
        return 0;
    char *end;
    uint64_t v = strtoull(s + 2, &end, 16);
    *ok = *end == 0;
    return v;
}

/* Localises a mismatch of qk's digest `got` against anchor digest `want`. */
static void explain_mismatch(int src, int op, int non_nan, uint64_t want)
{
    if (op == OP_E4M3) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < digest_src_n(src); i++) {
            uint32_t x = digest_input(src, i), a = x & 0x7FFFFFFFu;
            n += a <= 0x7F800000u && (qk_f32_to_e4m3(x) & 0x7Fu) == 0x7Fu;
        }
        if (digest(src, op, non_nan, VAR_E4M3_SAT) == want)
            printf("      localised: the anchor equals qk except that the %u non-NaN inputs rounding "
                   "past 448 (|x| > 464) or +-Inf give 0x7E|sign (saturate) where qk gives 0x7F|sign\n",
                   n);
        else if (digest(src, op, non_nan, VAR_E4M3_INF_SAT) == want)
            printf("      localised: the anchor equals qk except that +-Inf give 0x7E|sign\n");
    }
    if (op == OP_DEC && digest(src, op, 0, VAR_DEC_NAN_QUIET) == want)
        printf("      localised: only NaN codes differ (anchor = IEEE widening, payload kept, quiet bit "
               "set)\n");
    if (!non_nan && src <= SRC_BOTH)
        printf("      qk over NaN-free inputs: 0x%016llx\n", (unsigned long long)digest(src, op, 1, VAR_QK));
}

static void test_anchor_digests(void **s)
{
    (void)s;
    const char *dir = getenv("QK_GOLDEN_DIR");
    if (!dir || !*dir)
        fail_msg("%s", "QK_GOLDEN_DIR is not set: the golden file codec_digests.json is missing "
                       "(run through meson test)");
    char path[4096];
    snprintf(path, sizeof path, "%s/codec_digests.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("golden file %s is missing or unreadable: %s", path, jerr.text);
    json_t *digs = json_object_get(root, "fnv1a64");
    if (!json_is_object(digs))
        fail_msg("%s", "codec_digests.json has no \"fnv1a64\" object");
    const char *notes = json_string_value(json_object_get(root, "notes"));
    /* The anchors' NaN outputs may be ignored only because the notes declare them
     * implementation details (and give ':non_nan' twins for 16-bit inputs). */
    int notes_waive_nan = notes && strstr(notes, "NaN outputs are implementation details") &&
                          strstr(notes, ":non_nan");

    /* Top level: "fnv1a64", "notes", and digests of other anchor versions
     * "fnv1a64_torch_<version>" (same names; the notes say where versions differ). */
    const char *key, *name;
    json_t *obj, *val;
    json_t *alt[8];
    const char *alt_ver[8];
    int nalt = 0;
    json_object_foreach(root, key, obj)
    {
        if (!strcmp(key, "fnv1a64") || !strcmp(key, "notes"))
            continue;
        if (strncmp(key, "fnv1a64_torch_", 14) != 0 || !json_is_object(obj) || nalt == 8)
            fail_msg("codec_digests.json: unrecognised top-level entry '%s'", key);
        alt[nalt] = obj;
        alt_ver[nalt++] = key + 8;
        json_object_foreach(obj, name, val)
        {
            int src, op, nn;
            if (!parse_digest_name(name, &src, &op, &nn))
                fail_msg("codec_digests.json: unrecognised digest name '%s' in '%s'", name, key);
            if (!json_object_get(digs, name))
                fail_msg("codec_digests.json: '%s' in '%s' has no primary digest", name, key);
        }
    }

    int matched = 0, total = 0, failed = 0, waived = 0, alt_matched = 0;
    json_object_foreach(digs, name, val)
    {
        int src = 0, op = 0, non_nan = 0, ok = 0;
        total++;
        if (!parse_digest_name(name, &src, &op, &non_nan))
            fail_msg("codec_digests.json: unrecognised digest name '%s'", name);
        uint64_t want = parse_hex64(json_string_value(val), &ok);
        if (!ok)
            fail_msg("codec_digests.json: digest '%s' is not a 0x%%016x string", name);
        uint64_t got = digest(src, op, non_nan, VAR_QK);
        if (got == want) {
            matched++;
            continue;
        }
        /* (a) qk equals the same conversion under another recorded anchor version */
        int which = -1;
        for (int k = 0; k < nalt && which < 0; k++) {
            int aok;
            uint64_t av = parse_hex64(json_string_value(json_object_get(alt[k], name)), &aok);
            if (aok && av == got)
                which = k;
        }
        if (which >= 0) {
            alt_matched++;
            printf("  %-26s differs from the primary anchor, equals the recorded %s digest\n", name,
                   alt_ver[which]);
            explain_mismatch(src, op, non_nan, want);
            continue;
        }
        /* (b) 16-bit inputs: a full digest may differ only through NaN inputs, when
         * the notes say so and the ':non_nan' twin matches */
        if (!non_nan && src <= SRC_BOTH && notes_waive_nan) {
            char twin[80];
            snprintf(twin, sizeof twin, "%s:non_nan", name);
            int tok;
            uint64_t tw = parse_hex64(json_string_value(json_object_get(digs, twin)), &tok);
            if (tok && tw == digest(src, op, 1, VAR_QK)) {
                waived++;
                printf("  %-26s differs only in the outputs of NaN inputs (':non_nan' twin "
                       "matches; NaN bits are implementation details per the notes)\n",
                       name);
                continue;
            }
        }
        /* (c) decoders: only the outputs of NaN codes differ (proved by the variant) */
        if (op == OP_DEC && notes_waive_nan && digest(src, op, 0, VAR_DEC_NAN_QUIET) == want) {
            waived++;
            printf("  %-26s differs only at NaN codes:", name);
            for (uint32_t c = 0; c < 256u; c++) {
                int nb;
                uint32_t q = digest_output(src, op, c, VAR_QK, &nb);
                uint32_t a = digest_output(src, op, c, VAR_DEC_NAN_QUIET, &nb);
                if (q != a)
                    printf(" 0x%02X->0x%08X (qk 0x%08X)", c, a, q);
            }
            printf(" (NaN bits are implementation details per the notes)\n");
            continue;
        }
        failed++;
        printf("  MISMATCH %-26s anchor 0x%016llx, qk 0x%016llx\n", name, (unsigned long long)want,
               (unsigned long long)got);
        explain_mismatch(src, op, non_nan, want);
    }
    json_decref(root);
    printf("  anchor digests: %d of %d matched; %d match a recorded other anchor version instead; %d "
           "differ only in NaN outputs (waived by the notes); %d mismatched\n",
           matched, total, alt_matched, waived, failed);
    assert_true(total > 0);
    assert_int_equal(failed, 0);
}

/* ------------------------------------- 4. E8M0 and integer rounding helpers */

static uint32_t ref_e8m0_ceil(float s)
{
    int ex;
    double m = frexp((double)s, &ex); /* s = m * 2^ex, m in [0.5, 1) */
    int e = m == 0.5 ? ex - 1 : ex;   /* smallest e with 2^e >= s */
    e += 127;
    return (uint32_t)(e < 0 ? 0 : e > 254 ? 254 : e);
}

static void test_e8m0(void **s)
{
    (void)s;
    tally t = {"e8m0_ceil", 0, 0};
    for (uint32_t i = 0; i < DENSE_N; i++) {
        uint32_t x = dense_at(i);
        if ((x >> 31) || x == 0u || x >= 0x7F800000u)
            continue; /* defined for finite s > 0 */
        t.checked++;
        uint32_t want = ref_e8m0_ceil(bitsf(x)), got = qk_e8m0_ceil(x);
        if (want != got)
            tally_bad(&t, "s=0x%08X expected %u got %u", x, want, got);
    }
    for (int e = -149; e <= 127; e++) { /* every power of two and its neighbours */
        float p = ldexpf(1.0f, e);
        float pts[3] = {p, nextafterf(p, 0.0f), nextafterf(p, INFINITY)};
        for (int k = 0; k < 3; k++) {
            uint32_t x = fbits(pts[k]);
            if (x == 0u || x >= 0x7F800000u)
                continue;
            t.checked++;
            uint32_t want = ref_e8m0_ceil(pts[k]), got = qk_e8m0_ceil(x);
            if (want != got)
                tally_bad(&t, "s=0x%08X expected %u got %u", x, want, got);
        }
    }
    for (uint32_t m = 1; m < 0x800000u; m += 97u) { /* subnormals */
        t.checked++;
        if (ref_e8m0_ceil(bitsf(m)) != qk_e8m0_ceil(m))
            tally_bad(&t, "s=0x%08X expected %u got %u", m, ref_e8m0_ceil(bitsf(m)), qk_e8m0_ceil(m));
    }
    tally d = {"e8m0_to_f32", 0, 0};
    for (uint32_t b = 0; b < 256u; b++) {
        uint32_t got = qk_e8m0_to_f32(b);
        d.checked++;
        if (b == 255u) {
            if (!is_nan_bits(got))
                tally_bad(&d, "byte 255 gave 0x%08X, expected NaN", got);
            continue;
        }
        uint32_t want = fbits((float)ldexp(1.0, (int)b - 127)); /* exact, 2^-127 is subnormal */
        if (want != got)
            tally_bad(&d, "byte %u expected 0x%08X got 0x%08X", b, want, got);
        /* consistency: the scale chosen for s covers s */
        if (b <= 254u && qk_e8m0_ceil(got) != b)
            tally_bad(&d, "e8m0_ceil(e8m0_to_f32(%u)) = %u", b, qk_e8m0_ceil(got));
    }
    printf("  e8m0_ceil: %llu inputs, %llu mismatches; e8m0_to_f32: 256 bytes, %llu mismatches\n",
           (unsigned long long)t.checked, (unsigned long long)t.bad, (unsigned long long)d.bad);
    assert_int_equal(qk_e8m0_to_f32(0), 0x00400000u);
    assert_int_equal(t.bad, 0);
    assert_int_equal(d.bad, 0);
}

static const int32_t rne_ranges[][2] = {
    {-128, 127}, {-127, 127}, {-8, 7}, {0, 255}, {-7, 7}, {-(1 << 23), 1 << 23}, {0, 0},
};
#define N_RANGES ((int)(sizeof rne_ranges / sizeof rne_ranges[0]))

static void check_rne(tally *t, uint32_t x)
{
    float f = bitsf(x);
    if (!isfinite(f))
        return; /* defined for finite inputs */
    double r = rint((double)f);
    for (int k = 0; k < N_RANGES; k++) {
        int32_t lo = rne_ranges[k][0], hi = rne_ranges[k][1];
        int32_t want = r < lo ? lo : r > hi ? hi : (int32_t)r;
        int32_t got = qk_f32_to_int_rne_clamp(x, lo, hi);
        t->checked++;
        if (want != got)
            tally_bad(t, "x=0x%08X (%.9g) range [%d,%d]: expected %d got %d", x, (double)f, lo, hi,
                      want, got);
    }
}

static void test_int_rne_clamp(void **s)
{
    (void)s;
    assert_int_equal(fesetround(FE_TONEAREST), 0);
    double t0 = seconds();
    tally t = {"int_rne_clamp", 0, 0};
    for (uint32_t i = 0; i < DENSE_N; i++)
        check_rne(&t, dense_at(i));
    uint64_t halves = 0;
    for (int32_t n = -(1 << 23); n < (1 << 23); n++) { /* every n + 0.5 exact in f32 */
        float h = (float)n + 0.5f;
        check_rne(&t, fbits(h));
        halves++;
        if (n >= -4096 && n < 4096) {
            check_rne(&t, fbits(nextafterf(h, -INFINITY)));
            check_rne(&t, fbits(nextafterf(h, INFINITY)));
            check_rne(&t, fbits((float)n));
        }
    }
    static const uint32_t extra[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x3EFFFFFFu,
                                     0x3F000000u, 0x3F000001u, 0x4AFFFFFFu, 0x4B000000u, 0x4B000001u,
                                     0x4B7FFFFFu, 0x4B800000u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0xCB000000u,
                                     0xCAFFFFFFu, 0x42FF0000u, 0xC3008000u, 0xC3010000u};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++) {
        check_rne(&t, extra[k]);
        check_rne(&t, extra[k] ^ 0x80000000u);
    }
    printf("  int_rne_clamp: %llu checks over %d clamp ranges (dense sample, %llu n+0.5 values), "
           "%llu mismatches (%.2fs)\n",
           (unsigned long long)t.checked, N_RANGES, (unsigned long long)halves,
           (unsigned long long)t.bad, seconds() - t0);
    assert_int_equal(t.bad, 0);
}

/* ---------------------------------------------- 5. bitsandbytes NF4 / FP4 */

/* The thresholds as bitsandbytes writes them (float literals with an f suffix). */
#define NF4_THRESHOLDS(X)                                                                          \
    X(-0.8480964004993439) X(-0.6106329262256622) X(-0.4599952697753906)                          \
    X(-0.33967943489551544) X(-0.23460740596055984) X(-0.13791173323988914)                       \
    X(-0.045525018125772476) X(0.03979014977812767) X(0.1202552504837513)                         \
    X(0.2035212516784668) X(0.2920137718319893) X(0.3893125355243683) X(0.5016634166240692)       \
    X(0.6427869200706482) X(0.8614784181118011)
#define AS_FLOAT_LITERAL(v) v##f,
#define AS_STRING(v) #v "f",
static const float nf4_thr[15] = {NF4_THRESHOLDS(AS_FLOAT_LITERAL)};
static const char *const nf4_thr_src[15] = {NF4_THRESHOLDS(AS_STRING)};

static const float nf4_val[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

static const float fp4_thr[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                 0.4166667f, 0.583333f, 0.8333333f};
static const uint32_t fp4_rank_code[8] = {0, 1, 6, 7, 4, 5, 2, 3};
static const double fp4_num[8] = {0, 0.0625, 8, 12, 4, 6, 2, 3}; /* value * 12 */

static uint32_t ref_nf4(float x)
{
    uint32_t c = 0;
    for (int i = 0; i < 15; i++)
        c += x > nf4_thr[i]; /* NaN compares false: code 0 */
    return c;
}

static uint32_t ref_fp4(float x)
{
    if (isnan(x))
        return 0;
    uint32_t sgn = x < 0.0f ? 8u : 0u; /* not for -0 */
    float a = fabsf(x);
    int r = 0;
    for (int i = 0; i < 7; i++)
        r += a > fp4_thr[i];
    return sgn | fp4_rank_code[r];
}

static void check_bnb4(tally *t, uint32_t x)
{
    float f = bitsf(x);
    uint32_t wn = ref_nf4(f), gn = qk_nf4_encode(x);
    uint32_t wf = ref_fp4(f), gf = qk_fp4_encode(x);
    t->checked += 2;
    if (wn != gn)
        tally_bad(t, "nf4 x=0x%08X (%.9g): expected %u got %u", x, (double)f, wn, gn);
    if (wf != gf)
        tally_bad(t, "fp4 x=0x%08X (%.9g): expected %u got %u", x, (double)f, wf, gf);
}

static void test_bnb4(void **s)
{
    (void)s;
    tally t = {"nf4/fp4 encode", 0, 0};
    for (uint32_t h = 0; h < 65536u; h++) {
        check_bnb4(&t, h << 16);
        check_bnb4(&t, qk_f16_to_f32(h));
    }
    uint64_t near = 0;
    const float *thr[2] = {nf4_thr, fp4_thr};
    int nthr[2] = {15, 7};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < nthr[g]; i++)
            for (int sg = 0; sg < 2; sg++) {
                float c = sg ? -thr[g][i] : thr[g][i];
                float lo = c, hi = c;
                check_bnb4(&t, fbits(c));
                near++;
                for (int k = 0; k < 4; k++) {
                    lo = nextafterf(lo, -INFINITY);
                    hi = nextafterf(hi, INFINITY);
                    check_bnb4(&t, fbits(lo));
                    check_bnb4(&t, fbits(hi));
                    near += 2;
                }
            }
    for (uint32_t i = 0; i < DENSE_N; i += 3)
        check_bnb4(&t, dense_at(i));
    static const uint32_t sp[] = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u,
                                  0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x00000001u, 0x80000001u};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++)
        check_bnb4(&t, sp[k]);
    /* localise threshold differences: the f32 at which qk's code steps past i */
    int thr_bad = 0;
    for (int i = 0; i < 15; i++) {
        float x = nf4_thr[i];
        for (int k = 0; k < 8; k++)
            x = nextafterf(x, -INFINITY);
        while (qk_nf4_encode(fbits(x)) <= (uint32_t)i && x < 1.0f)
            x = nextafterf(x, INFINITY);
        uint32_t eff = fbits(nextafterf(x, -INFINITY)); /* largest x with code <= i */
        if (eff != fbits(nf4_thr[i])) {
            thr_bad++;
            printf("  nf4 threshold %d: literal %s is f32 0x%08X, qk_nf4_encode behaves as 0x%08X\n", i,
                   nf4_thr_src[i], fbits(nf4_thr[i]), eff);
        }
    }
    assert_int_equal(qk_nf4_encode(0x7FC00000u), 0);
    assert_int_equal(qk_fp4_encode(0xFFC00000u), 0);
    assert_int_equal(qk_fp4_encode(0x80000000u), 0);

    tally v = {"nf4/fp4 values", 0, 0};
    for (uint32_t c = 0; c < 16u; c++) {
        uint32_t wn = fbits(nf4_val[c]);
        float fv = (float)(fp4_num[c & 7u] / 12.0);
        uint32_t wf = fbits((c & 8u) ? -fv : fv);
        v.checked += 2;
        if (qk_nf4_value(c) != wn)
            tally_bad(&v, "nf4 value %u: expected 0x%08X got 0x%08X", c, wn, qk_nf4_value(c));
        if (qk_fp4_value(c) != wf)
            tally_bad(&v, "fp4 value %u: expected 0x%08X got 0x%08X", c, wf, qk_fp4_value(c));
    }
    printf("  nf4/fp4 encode: %llu checks (all bf16+f16 patterns, %llu threshold neighbours, dense "
           "sample), %llu mismatches; value tables: 32 entries, %llu mismatches\n",
           (unsigned long long)t.checked, (unsigned long long)near, (unsigned long long)t.bad,
           (unsigned long long)v.bad);
    assert_int_equal(thr_bad, 0);
    assert_int_equal(t.bad, 0);
    assert_int_equal(v.bad, 0);
}

int main(void)
{
    fesetenv(FE_DFL_ENV);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoders_all_16bit_inputs),
        cmocka_unit_test(test_decoders_round_trip),
        cmocka_unit_test(test_encoders_f32_dense_and_random),
        cmocka_unit_test(test_encoders_f32_boundaries),
        cmocka_unit_test(test_anchor_digests),
        cmocka_unit_test(test_e8m0),
        cmocka_unit_test(test_int_rne_clamp),
        cmocka_unit_test(test_bnb4),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < NFMT; i++) {
        free(fmts[i].val);
        free(fmts[i].code);
    }
    return rc;
}
