/* CUDA backend suite.
 *
 * On any machine: the fast forms the kernels use instead of some codec
 * steps (cuda/qk_fast_codec.h) are checked against the integer codec on the
 * host (exhaustively where the input range allows, else every bf16 value,
 * dense neighbourhoods of every threshold and a large pseudo-random sample).
 *
 * With an NVIDIA GPU: the device self-tests compare every native conversion
 * the kernels use with the codec for all 2^32 f32 inputs, and the
 * cross-backend harness runs the CUDA backend against the reference with
 * tiny transfer pieces and chunks (every pipeline boundary) and with the
 * defaults, small and large shapes. Without a GPU those parts print why
 * they do not run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../cuda/qk_fast_codec.h"
#include "backends/cuda/cuda_internal.h"
#include "check/crosscheck.h"
#include "shard.h"
#include "ref/ref_internal.h"

static uint64_t rng = 0x243F6A8885A308D3u;
static uint32_t next32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* E2M1 thresholds: every f32 in [0, 6] (the kernels clamp first). */
static void test_host_e2m1_exhaustive(void **state)
{
    (void)state;
    uint64_t bad = 0;
    for (uint32_t x = 0; x <= QK_F32_E2M1_MAX; x++)
        bad += qkf_e2m1_mag(qk_float(x)) != (qk_f32_to_e2m1(x) & 7u);
    assert_int_equal(bad, 0);
}

/* bf16 rounding: every non-NaN f32 with a sampled low half, plus every low
 * half around the rounding point of sampled high halves. */
static void test_host_bf16(void **state)
{
    (void)state;
    uint64_t bad = 0;
    for (uint32_t hi = 0; hi < 0x10000u; hi++) {
        uint32_t lows[] = {0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, next32() & 0xFFFFu};
        for (size_t k = 0; k < sizeof lows / sizeof *lows; k++) {
            uint32_t x = (hi << 16) | lows[k];
            if (!qk_f32_is_nan(x))
                bad += qkf_bf16_rne(x) != qk_f32_to_bf16(x);
        }
    }
    for (int s = 0; s < 256; s++) {
        uint32_t hi = next32() & 0xFFFFu;
        for (uint32_t lo = 0; lo < 0x10000u; lo++) {
            uint32_t x = (hi << 16) | lo;
            if (!qk_f32_is_nan(x))
                bad += qkf_bf16_rne(x) != qk_f32_to_bf16(x);
        }
    }
    assert_int_equal(bad, 0);
}

static const uint32_t bnb_thresholds[] = {
    0xBF591CD9u, 0xBF1C5270u, 0xBEEB8480u, 0xBEADEA76u, 0xBE703CECu, 0xBE0D38BCu, 0xBD3A7871u, 0x3D22FAFFu,
    0x3DF64863u, 0x3E5067E0u, 0x3E9582D4u, 0x3EC753F9u, 0x3F006D03u, 0x3F248DAFu, 0x3F5C89D9u, 0x3B2AAAB9u,
    0x3DB00000u, 0x3E555555u, 0x3E955555u, 0x3ED55556u, 0x3F155550u, 0x3F555555u,
};

static uint32_t nf4_tab[2 * QKF_NF4_BUCKETS];
static uint32_t code_tab[2][QKF_BNB_BUCKETS]; /* qkf_bnb_code_table: FP4, NF4 */

static uint64_t bnb_mismatch(uint32_t x)
{
    uint64_t bad = (qkf_nf4(qk_float(x)) != qk_nf4_encode(x)) + (qkf_fp4(qk_float(x)) != qk_fp4_encode(x)) +
                   (qkf_nf4_bucketed(qk_float(x), nf4_tab) != qk_nf4_encode(x)) +
                   (qkf_nf4(qk_float(x)) != qk_nf4_encode(qk_f32_ftz(x))) +
                   (qkf_fp4_unflushed(qk_float(x)) != qk_fp4_encode(qk_f32_ftz(x)));
    if ((x & QK_F32_ABS) != QK_F32_INF) /* the lookup's domain */
        bad += (qkf_bnb_lookup(code_tab[1], x) != qk_nf4_encode(qk_f32_ftz(x))) +
               (qkf_bnb_lookup(code_tab[0], x) != qk_fp4_encode(qk_f32_ftz(x)));
    return bad;
}

/* NF4 / FP4 codes (NF4 also by bucket, both by the lookup table), and the
 * codes of ftz(x) without the flush: every bf16 value, 2^16 floats around
 * each threshold and each NF4 bucket edge (both signs), 2^11 around every
 * lookup bucket's edge, zeros, subnormals, NaN and a sample of 2^24 inputs. */
static void test_host_bnb_codes(void **state)
{
    (void)state;
    assert_int_equal(qkf_nf4_bucket_table(nf4_tab), 0); /* one threshold per bucket at most */
    assert_int_equal(qkf_bnb_code_table(0, code_tab[0]), 0);
    assert_int_equal(qkf_bnb_code_table(1, code_tab[1]), 0);
    uint64_t bad = 0;
    for (uint32_t b = 0; b < QKF_BNB_BUCKETS; b++) /* both sides of every lookup bucket's edge */
        for (uint32_t d = 0; d < 0x800u; d++)
            bad += bnb_mismatch((b << 21) - 0x400u + d);
    for (uint32_t b = QKF_NF4_BUCKET_BASE; b <= QKF_NF4_BUCKET_BASE + 21u; b++)
        for (uint32_t d = 0; d < 0x10000u; d++) {
            uint32_t x = (b << 21) - 0x8000u + d;
            bad += bnb_mismatch(x) + bnb_mismatch(x ^ QK_F32_SIGN);
        }
    for (uint32_t h = 0; h < 0x10000u; h++)
        bad += bnb_mismatch(h << 16);
    for (size_t t = 0; t < sizeof bnb_thresholds / sizeof *bnb_thresholds; t++)
        for (uint32_t d = 0; d < 0x10000u; d++) {
            uint32_t x = bnb_thresholds[t] - 0x8000u + d;
            bad += bnb_mismatch(x) + bnb_mismatch(x ^ QK_F32_SIGN);
        }
    for (uint32_t x = 0; x < 0x100000u; x++)
        bad += bnb_mismatch(x) + bnb_mismatch(x ^ QK_F32_SIGN);
    for (uint32_t x = 0x700000u; x < 0x900000u; x++) /* around FLT_MIN */
        bad += bnb_mismatch(x) + bnb_mismatch(x ^ QK_F32_SIGN);
    for (int k = 0; k < (1 << 24); k++)
        bad += bnb_mismatch(next32());
    assert_int_equal(bad, 0);
}

/* The int8 code (round to T, to an integer, clamp) of the product
 * RN(t RN(1 / d)) against that of the quotient RN(t / d) (int8_code), for
 * every positive t of T with d / 4 <= t <= 256 d (below, both code 0) and
 * every d of T in [1, 2): k_convrot_rows_q.cuh's int8_by_rcp. Other
 * binades of d follow: with d in [2^-126, 2^122) the reciprocal, the
 * quotient and the product are normal, so scaling t and d by one power of
 * two scales them exactly and leaves the codes alike (every pair of T
 * values maps to one here: t 2^-e has at most T's significant bits and
 * lies in [1/4, 512), where T's values are normal). Negative t mirror
 * these (RN is odd); it checks them too, and the binades' ends. */
static size_t int8_by_rcp_mismatches(qk_dtype dt, uint32_t d)
{
    size_t bad = 0;
    uint32_t r = qk_bits(1.0f / qk_float(d));
    for (uint32_t h = 1; h < 0x8000u; h++) {
        uint32_t t = qk_load_f32(dt, &(uint16_t){(uint16_t)h}, 0);
        if ((t & 0x7FFFFFFFu) >= 0x7F800000u)
            break;
        if (qk_float(t) < qk_float(d) * 0.25f)
            continue;
        if (qk_float(t) > qk_float(d) * 256.0f)
            break;
        for (int neg = 0; neg < 2; neg++) {
            uint32_t x = t | (neg ? 0x80000000u : 0u);
            int32_t want = qk_f32_to_int_rne_clamp(qk_round_to(dt, qk_fdiv(x, d)), -128, 127);
            int32_t got = qk_f32_to_int_rne_clamp(qk_round_to(dt, qk_fmul(x, r)), -128, 127);
            bad += want != got;
        }
    }
    return bad;
}

static void test_host_int8_by_rcp(void **state)
{
    (void)state;
    size_t bad = 0, divisors = 0;
    for (int k = 0; k < 2; k++) {
        qk_dtype dt = k ? QK_DTYPE_F16 : QK_DTYPE_BF16;
        for (uint32_t h = 1; h < 0x8000u; h++) {
            uint32_t d = qk_load_f32(dt, &(uint16_t){(uint16_t)h}, 0);
            if (d >= 0x3F800000u && d < 0x40000000u) {
                bad += int8_by_rcp_mismatches(dt, d);
                divisors++;
            }
        }
        /* the ends of the range, bf16 */
        if (!k)
            for (uint32_t m = 0; m < 0x80u; m++) {
                bad += int8_by_rcp_mismatches(dt, 0x00800000u | (m << 16));
                bad += int8_by_rcp_mismatches(dt, 0x7C000000u | (m << 16));
                divisors += 2;
            }
    }
    printf("int8 codes by one product with the reciprocal: %zu divisors, %zu mismatches\n", divisors, bad);
    assert_int_equal(bad, 0);
}

/* k_convrot_rows_q.cuh's f16 codes on packed halves (crq_f16_codes8): for
 * every f16 value h (the quotient rounded to f16), clamp to [-128, 127],
 * add 1536 in f16 (computed exactly in float, rounded once to f16: the
 * IEEE f16 sum), low byte of the result = the reference's rounded,
 * clamped integer. */
static void test_host_f16_code_halves(void **state)
{
    (void)state;
    size_t bad = 0, n = 0;
    for (uint32_t b = 0; b < 0x10000u; b++) {
        uint32_t x = qk_f16_to_f32(b);
        if ((x & 0x7FFFFFFFu) >= 0x7F800000u)
            continue; /* never reaches the codes */
        float c = qk_float(x);
        c = c > 127.0f ? 127.0f : c < -128.0f ? -128.0f : c;
        uint32_t h = qk_f32_to_f16(qk_bits(c + 1536.0f)); /* exact sum, one rounding to f16 */
        int got = (int8_t)(h & 0xFFu), want = qk_f32_to_int_rne_clamp(x, -128, 127);
        bad += got != want;
        n++;
    }
    printf("f16 codes on packed halves: %zu values, %zu mismatches\n", n, bad);
    assert_int_equal(bad, 0);
}

static uint32_t dmap_tab[QKF_DMAP_BUCKETS];

/* The nested pass's dynamic-map lookup against the reference's search (of
 * x and of ftz(x): the kernel codes the product unflushed): every input
 * whose magnitude lies in [2^-27, 4) (the binades of every threshold and
 * every table bucket among them), every bf16 value, the 2^20 smallest
 * magnitudes (subnormals), 256 values around every edge of the 2^14
 * buckets of bits >> 17 (Inf and NaN among them) and a sample of 2^24,
 * each with both signs but the last. All 2^32 inputs were checked once on
 * the host by a throwaway loop (0 mismatches); self-test 24 does so on the
 * GPU. */
static uint64_t dmap_mismatch(uint32_t x)
{
    uint32_t c = qkf_dmap_lookup(dmap_tab, x), f = qk_f32_ftz(x);
    return (uint64_t)(c != qk_bnb_dynamic_map_code(x)) + (uint64_t)(f != x && c != qk_bnb_dynamic_map_code(f));
}

static void test_host_dynamic_map(void **state)
{
    (void)state;
    assert_int_equal(qkf_dmap_table(qk_bnb_dynamic_map_code, dmap_tab), 0);
    uint64_t bad = 0;
    for (uint32_t x = 100u << 23; x < 129u << 23; x++)
        bad += dmap_mismatch(x) + dmap_mismatch(x ^ QK_F32_SIGN);
    for (uint32_t h = 0; h < 0x10000u; h++)
        bad += dmap_mismatch(h << 16);
    for (uint32_t x = 0; x < 0x100000u; x++)
        bad += dmap_mismatch(x) + dmap_mismatch(x ^ QK_F32_SIGN);
    for (uint32_t k = 0; k <= 0x3FFFu; k++)
        for (uint32_t d = 0; d < 0x100u; d++) {
            uint32_t x = (k << 17) - 0x80u + d;
            bad += dmap_mismatch(x) + dmap_mismatch(x ^ QK_F32_SIGN);
        }
    for (int k = 0; k < (1 << 24); k++)
        bad += dmap_mismatch(next32());
    assert_int_equal(bad, 0);
}

/* ---- f32 in blocks of 64 (cuda/k_bnb4_f32.cuh) ------------------------- */

/* Block kinds, block b of kind b % BK_KINDS (19: prime to the four blocks a
 * warp holds, so every kind takes every place in a warp and every grid
 * step). The largest magnitude sits at a place that moves from block to
 * block. Subnormals beside an absmax of 2^-100 (NF4 skips the flush),
 * just below it (NF4 flushes), 2^-122 and FLT_MIN (unflushed, their
 * products would reach NF4's and FP4's first codes), and beside ordinary
 * values (FP4's sign of a tiny negative product). */
enum {
    BK_RANDOM, BK_ZEROS, BK_SUBNORMALS, BK_SUB_2M100, BK_SUB_BELOW_2M100, BK_SUB_2M122, BK_SUB_FLT_MIN,
    BK_SUB_ORDINARY, BK_FLT_MIN, BK_NEAR_MAX, BK_2P126, BK_NAN, BK_INF, BK_NEG_INF, BK_INF_NAN, BK_ALL_NAN,
    BK_NAN_SUBNORMALS, BK_EDGES, BK_EDGES_SCALED, BK_KINDS
};

static uint32_t craft_sign(void) { return next32() % 3 == 0 ? QK_F32_SIGN : 0u; }
static uint32_t craft_subnormal(void) { return craft_sign() | (1u + next32() % 0x7FFFFFu); }
static uint32_t craft_ordinary(void) { return qk_bits((float)((int32_t)(next32() % 20001u) - 10000) / 7919.0f); }

/* A NF4 or FP4 threshold (bnb_thresholds), one step below, on or above
 * it, times 2^e (all normal: exact). */
static uint32_t craft_edge(int64_t j, int e)
{
    size_t nt = sizeof bnb_thresholds / sizeof *bnb_thresholds;
    uint32_t t = bnb_thresholds[j % (int64_t)nt] + (uint32_t)((j / (int64_t)nt) % 3) - 1u;
    if (j % (int64_t)nt >= 15) /* FP4's are magnitudes */
        t |= craft_sign();
    return t + ((uint32_t)e << 23);
}

static uint32_t craft_nan(int64_t j)
{
    static const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x7FA00000u};
    return nans[j % 5];
}

static uint32_t craft_element(int64_t b, int k)
{
    int p = (int)((b * 5 + b / BK_KINDS) % 64), top = k == p; /* the largest magnitude's place */
    int e = (int)((b / BK_KINDS) % 201) - 100;
    uint32_t s = craft_sign();
    switch (b % BK_KINDS) {
    case BK_ZEROS: return s;
    case BK_SUBNORMALS: return k % 5 == 0 ? s : craft_subnormal();
    case BK_SUB_2M100: return top ? s | 0x0D800000u : k % 4 == 0 ? s | 0x08800000u | (next32() & 0x7FFFFFu)
                                                                 : craft_subnormal();
    case BK_SUB_BELOW_2M100: return top ? s | 0x0D7FFFFFu : craft_subnormal();
    case BK_SUB_2M122: return top ? s | 0x02800000u : s | (0x400000u + next32() % 0x400000u);
    case BK_SUB_FLT_MIN: return top ? s | 0x00800000u : craft_subnormal();
    case BK_SUB_ORDINARY: return k % 3 == 0 ? craft_subnormal() : qk_bits(qk_float(craft_ordinary()) / 4.0f);
    case BK_FLT_MIN: return s | (k % 3 ? 0x00800000u : 0u);
    case BK_NEAR_MAX: /* r = 1 / absmax flushes to 0 */
        return top ? (b % 2 ? 0x7F7FFFFFu : qk_bits(3.0e38f)) : qk_bits(qk_float(craft_ordinary()) * 1e37f);
    case BK_2P126: return top ? 0x7E800000u : craft_ordinary() + ((next32() % 120u) << 23);
    case BK_NAN: return top ? craft_nan(b) : craft_ordinary();
    case BK_INF: return top ? QK_F32_INF : craft_ordinary();
    case BK_NEG_INF: return top ? QK_F32_SIGN | QK_F32_INF : craft_ordinary();
    case BK_INF_NAN: return top ? s | QK_F32_INF : k == (p + 17) % 64 ? craft_nan(b + k) : craft_ordinary();
    case BK_ALL_NAN: return craft_nan(b + k);
    case BK_NAN_SUBNORMALS: return top ? craft_nan(b) : k % 4 == 0 ? s : craft_subnormal();
    case BK_EDGES: return top ? s | QK_F32_ONE : craft_edge(b + k, 0);
    case BK_EDGES_SCALED: return top ? s | (QK_F32_ONE + ((uint32_t)e << 23)) : craft_edge(b * 3 + k, e);
    default: return craft_ordinary();
    }
}

/* in[0, n) (n need not be whole blocks); nan_tail: a partial last block of NaN only. */
static void craft_f32_blocks(uint32_t *in, int64_t n, int nan_tail)
{
    rng = 0xB64F32u + (uint64_t)nan_tail;
    for (int64_t i = 0; i < n; i++)
        in[i] = nan_tail && i >= n / 64 * 64 ? craft_nan(i) : craft_element(i / 64, (int)(i % 64));
}

/* qk_bnb4_quantize64_f32's steps for one block on the host: the finite
 * block's absmax as ftz(max |x| bits), products of x (flushed where the
 * kernel flushes) and r, codes by the lookup; a NaN/Inf block the
 * reference's. A mutation drops one step, for the test to show that the
 * crafted blocks catch it. Returns the absmax. */
enum { MUT_NONE, MUT_NO_FLUSH, MUT_FP4_FLUSH_AS_NF4, MUT_RAW_ABSMAX, MUT_COUNT };

static uint32_t bnb4_f32_model(const uint32_t *x, int nf4, int mut, uint8_t codes[32])
{
    uint32_t m = 0, am, c[64];
    for (int k = 0; k < 64; k++)
        m = (x[k] & QK_F32_ABS) > m ? x[k] & QK_F32_ABS : m;
    if (m < QK_F32_INF) {
        am = mut == MUT_RAW_ABSMAX ? m : qk_f32_ftz(m);
        uint32_t r = qk_f32_ftz(qk_bnb_reciprocal(QK_DTYPE_F32, am));
        int big = ((am >> 23) & 0xFFu) >= 27u; /* absmax >= 2^-100 */
        int flush = mut == MUT_NO_FLUSH ? 0 : mut == MUT_FP4_FLUSH_AS_NF4 ? !big : !(nf4 && big);
        for (int k = 0; k < 64; k++)
            c[k] = qkf_bnb_lookup(code_tab[nf4], qk_f32_mul(flush ? qk_f32_ftz(x[k]) : x[k], r));
    } else {
        uint32_t key = 0;
        for (int k = 0; k < 64; k++)
            if (!qk_f32_is_nan(x[k]) && qk_f32_ftz(x[k] & QK_F32_ABS) + 1u > key)
                key = qk_f32_ftz(x[k] & QK_F32_ABS) + 1u;
        am = key ? key - 1u : 0xFF7FFFFFu;
        uint32_t r = qk_bnb_reciprocal(QK_DTYPE_F32, am);
        for (int k = 0; k < 64; k++) {
            uint32_t v = qk_f32_mul_ftz(x[k], r);
            c[k] = nf4 ? qk_nf4_encode(v) : qk_fp4_encode(v);
        }
    }
    for (int j = 0; j < 32; j++)
        codes[j] = (uint8_t)(c[2 * j] << 4 | c[2 * j + 1]);
    return am;
}

/* The model against the reference on the crafted blocks (64 of each kind):
 * no byte may differ, and each mutation must change some: dropping the
 * input flush (NF4 and FP4), FP4 taking NF4's rule, the absmax unflushed. */
static void test_host_bnb4_f32_model(void **state)
{
    (void)state;
    static const char *const what[MUT_COUNT] = {"the kernel's steps", "no input flush", "FP4 flushing as NF4",
                                                "absmax not flushed"};
    assert_int_equal(qkf_bnb_code_table(0, code_tab[0]), 0);
    assert_int_equal(qkf_bnb_code_table(1, code_tab[1]), 0);
    const int64_t nb = 64 * BK_KINDS, n = nb * 64;
    uint32_t *in = malloc((size_t)n * 4), *absmax = malloc((size_t)nb * 4);
    uint8_t *data = malloc((size_t)n / 2), codes[32];
    craft_f32_blocks(in, n, 0);
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    for (int nf4 = 0; nf4 < 2; nf4++) {
        qk_params p;
        assert_int_equal(qk_params_default(nf4 ? QK_FORMAT_NF4 : QK_FORMAT_FP4, &p), QK_OK);
        p.block_size = 64;
        p.double_quant = 0;
        void *parts[QK_PART_COUNT] = {data, absmax, NULL, NULL};
        assert_int_equal(qk_quantize(ref, &p, QK_DTYPE_F32, in, 1, n, parts), QK_OK);
        for (int mut = 0; mut < MUT_COUNT; mut++) {
            size_t diff = 0;
            for (int64_t b = 0; b < nb; b++) {
                uint32_t am = bnb4_f32_model(in + b * 64, nf4, mut, codes);
                for (int k = 0; k < 4; k++)
                    diff += ((am >> 8 * k) & 0xFFu) != ((absmax[b] >> 8 * k) & 0xFFu);
                for (int j = 0; j < 32; j++)
                    diff += codes[j] != data[b * 32 + j];
            }
            printf("%s f32 blocks, model with %s: %zu bytes differ from the reference\n", nf4 ? "nf4" : "fp4",
                   what[mut], diff);
            if (mut == MUT_NONE || (nf4 && mut == MUT_FP4_FLUSH_AS_NF4))
                assert_int_equal(diff, 0);
            else
                assert_true(diff > 0);
        }
    }
    qk_context_destroy(ref);
    free(in);
    free(absmax);
    free(data);
}

/* ---- on a GPU --------------------------------------------------------------- */

static int gpu_or_say_why(void)
{
    const char *why = "";
    int n = qk_backend_cuda.probe(&why);
    if (n <= 0)
        printf("SKIP (no GPU here): the CUDA device tests need an NVIDIA GPU: %s\n", why);
    return n > 0;
}

static const struct {
    int which;
    const char *what;
    int native_only;
} selftests[] = {
    {0, "f32->f16 cvt.rn.f16.f32 (+ NaN rule)", 0},
    {1, "f32->bf16 integer RNE (+ NaN rule)", 0},
    {2, "e4m3 encode (cvt.rn.satfinite.e4m3x2 on sm_89+) of clamped input", 0},
    {3, "e5m2 encode (cvt.rn.satfinite.e5m2x2 on sm_89+) of clamped input", 0},
    {4, "e2m1 by thresholds of clamped input", 0},
    {5, "e2m1 cvt.rn.satfinite.e2m1x2 (Blackwell) of clamped input", 1},
    {6, "e8m0 ceil (cvt.rp.satfinite.ue8m0x2 on Blackwell)", 0},
    {7, "nf4/fp4 float-compare codes", 0},
    {8, "f16->f32 cvt.f32.f16 (+ NaN rule), all 2^16", 0},
    {9, "e4m3x2 byte order", 0},
    {10, "f32x2->bf16x2 cvt.rn.bf16x2.f32 (sm_80+), non-NaN", 0},
    {11, "f32x2->f16x2 cvt.rn.f16x2.f32 (sm_80+), non-NaN", 0},
    {12, "nvfp4 bounds by f64 product and cvt.rm.f32.f64, t > 0", 0},
    {13, "row/tile group codes (paired roundings, int8 by exact add)", 0},
    {14, "int8 codes by reciprocal and residual, bf16 x and d, |x| <= 256 d", 0},
    {15, "int8 codes by reciprocal and residual, f16 x and d, |x| <= 256 d", 0},
    {16, "nf4/fp4 codes by bucket lookup, every v but +-Inf", 0},
    {17, "bnb4 quantize64 codes of bf16, every x and absmax, |x| <= a", 0},
    {18, "bnb4 quantize64 codes of f16, every x and absmax, |x| <= a", 0},
    {19, "nvfp4 codes of 16-bit pairs, every x16 x 2^16 scales", 0},
    {20, "e4m3x2/e5m2x2 satfinite of unclamped input (sm_89+), non-NaN", 0},
    {21, "nvfp4 codes of 16-bit pairs by flag counts (dp4a), as 19", 0},
    {22, "int8 divisors d of 16-bit groups: reciprocal, amax <= 256 d", 0},
    {23, "bf16 subnormal detector by signed 16x2 minimum, every word", 0},
    {24, "double quant's dynamic-map codes by lookup, x and ftz(x)", 0},
};

/* Runs selftests[k] over all 2^32 inputs and asserts no mismatch. */
static void run_selftest(size_t k, int native)
{
    if (selftests[k].native_only && !native) {
        printf("selftest %d %-62s NOT RUN: this GPU has no such instruction\n", selftests[k].which,
               selftests[k].what);
        return;
    }
    uint64_t fails = 0;
    uint32_t first = 0;
    assert_int_equal(qk_cuda_selftest(selftests[k].which, &fails, &first), QK_OK);
    printf("selftest %d %-62s 2^32 inputs, %llu mismatches", selftests[k].which, selftests[k].what,
           (unsigned long long)fails);
    if (fails)
        printf(" (first 0x%08X)", first);
    printf("\n");
    assert_int_equal(fails, 0);
}

static void test_device_selftests(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    int native = 0, arch = 0;
    assert_int_equal(qk_cuda_native_fp4(&native, &arch), QK_OK);
    printf("device code: sm_%d, Blackwell FP4/E8M0 path: %s\n", arch / 10,
           native ? "yes" : "no (compiled out for this GPU)");
    for (size_t k = 0; k < sizeof selftests / sizeof *selftests; k++)
        if (selftests[k].which != 24) /* test_device_dynamic_map_lookup */
            run_selftest(k, native);
}

/* Self-test 24 alone (QK_TEST_FILTER=test_device_dynamic_map_lookup), for
 * a quick device proof of the nested pass's codes. */
static void test_device_dynamic_map_lookup(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    for (size_t k = 0; k < sizeof selftests / sizeof *selftests; k++)
        if (selftests[k].which == 24)
            run_selftest(k, 0);
}

static void print_row(void *user, const qkc_row *r)
{
    (void)user;
    printf("%-20s %-5s %-7s dev%d %10zu bytes %6zu mismatches\n", r->format, r->dtype, r->backend, r->device,
           r->bytes, r->mismatches);
}

/* Tiny odd transfer pieces and chunks: every boundary of the pipeline. */
static void test_device_pipeline_boundaries(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    setenv("QK_CUDA_STAGE_BYTES", "4099", 1);
    setenv("QK_CUDA_CHUNK_BYTES", "70000", 1);
    qkc_options opt = {1, 0, "cuda"};
    long total = qkc_run(&opt, print_row, NULL);
    unsetenv("QK_CUDA_STAGE_BYTES");
    unsetenv("QK_CUDA_CHUNK_BYTES");
    assert_int_equal(total, 0);
}

/* The portable e2m1 path on a Blackwell GPU too (elsewhere it is the only one). */
static void test_device_portable_path(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    setenv("QK_CUDA_NATIVE", "0", 1);
    qkc_options opt = {0, 0, "cuda"};
    long total = qkc_run(&opt, print_row, NULL);
    unsetenv("QK_CUDA_NATIVE");
    assert_int_equal(total, 0);
}

/* ---- odd shapes (the harness's columns are multiples of 64) ------------ */

static const qk_params odd_formats[] = {
    {QK_FORMAT_NF4, QK_SCALING_TENSOR, 64, 0, 0},        {QK_FORMAT_FP4, QK_SCALING_TENSOR, 32, 1, 0},
    {QK_FORMAT_FP4, QK_SCALING_TENSOR, 64, 0, 0}, /* qk_bnb4_quantize64 with FP4's flush, the tail generic */
    {QK_FORMAT_NF4, QK_SCALING_TENSOR, 64, 1, 0}, /* quantize64_sum over many chunks, the tail's own partial */
    {QK_FORMAT_NVFP4, QK_SCALING_TENSOR, 16, 0, 0},      {QK_FORMAT_MXFP8, QK_SCALING_TENSOR, 32, 0, 0},
    {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 128, 0, 0}, {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_BLOCK, 3, 0, 0},
    {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_TENSOR, 128, 0, 0}, {QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 7, 0, 0},
};

static void fill(qk_dtype dt, void *buf, int64_t n, uint32_t seed)
{
    rng = 0x9E3779B97F4A7C15u ^ seed;
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = next32();
        float v = ((float)(r & 0xFFFF) - 32768.0f) / 16384.0f;
        if (r % 97 == 0)
            v = 0.0f;
        uint32_t u = qk_bits(v);
        if (dt == QK_DTYPE_F32)
            memcpy((unsigned char *)buf + 4 * i, &u, 4);
        else {
            uint16_t h = (uint16_t)(dt == QK_DTYPE_BF16 ? qk_f32_to_bf16(u) : qk_f32_to_f16(u));
            memcpy((unsigned char *)buf + 2 * i, &h, 2);
        }
    }
}

/* Dequantize by the reference and CUDA compared: every byte equal, but a
 * ConvRot NaN's payload, which is not part of the contract (docs/FORMATS.md,
 * "NaN payloads"): a NaN where the reference has one. ConvRot's inverse
 * butterflies make NaN from finite parts (Inf - Inf once a level's sums
 * overflow f32), with x86's default NaN 0xFFC00000 on the host and the
 * GPU's 0x7FFFFFFF. Prints which: a status, or the first differing
 * element with both values. Returns 1 when they differ. */
static size_t dequantize_outputs_differ(qk_context *ref, qk_context *cu, const qk_params *p, const void *const *parts,
                                        qk_dtype dt, int64_t rows, int64_t cols, unsigned char *o1, unsigned char *o2)
{
    size_t es = qk_dtype_size(dt), n = (size_t)(rows * cols);
    qk_status s1 = qk_dequantize(ref, p, parts, rows, cols, dt, o1);
    qk_status s2 = qk_dequantize(cu, p, parts, rows, cols, dt, o2);
    if (s1 != QK_OK || s2 != QK_OK) {
        printf("  %s %s %lldx%lld: dequantize status %d (reference %d)\n", qk_format_name(p->format),
               qk_dtype_name(dt), (long long)rows, (long long)cols, (int)s2, (int)s1);
        return 1;
    }
    uint32_t inf = dt == QK_DTYPE_F32 ? 0x7F800000u : dt == QK_DTYPE_F16 ? 0x7C00u : 0x7F80u;
    uint32_t abs = dt == QK_DTYPE_F32 ? 0x7FFFFFFFu : 0x7FFFu;
    size_t diff = 0, first = 0;
    uint32_t fw = 0, fg = 0;
    for (size_t e = 0; e < n; e++) {
        uint32_t w = 0, g = 0;
        memcpy(&w, o1 + e * es, es);
        memcpy(&g, o2 + e * es, es);
        if (w == g || (p->convrot_group > 0 && (w & abs) > inf && (g & abs) > inf))
            continue;
        if (diff++ == 0) {
            first = e;
            fw = w;
            fg = g;
        }
    }
    if (diff != 0)
        printf("  %s %s %lldx%lld: dequantize differs in %zu elements, first %zu (row %lld): reference 0x%08x, "
               "cuda 0x%08x\n",
               qk_format_name(p->format), qk_dtype_name(dt), (long long)rows, (long long)cols, diff, first,
               (long long)(first / (size_t)cols), fw, fg);
    return diff != 0;
}

/* CUDA vs the reference on one input: every part and the dequantized output. */
static size_t compare_input(qk_context *ref, qk_context *cu, const qk_params *p, qk_dtype dt, int64_t rows,
                            int64_t cols, const void *in)
{
    qk_layout lay;
    if (qk_layout_query(p, rows, cols, &lay) != QK_OK)
        return 0;
    size_t es = qk_dtype_size(dt), n = (size_t)(rows * cols), bad = 0;
    unsigned char *o1 = malloc(n * es), *o2 = malloc(n * es);
    void *a[QK_PART_COUNT] = {0}, *b[QK_PART_COUNT] = {0};
    for (int i = 0; i < QK_PART_COUNT; i++)
        if (lay.part[i].nbytes) {
            a[i] = calloc(1, lay.part[i].nbytes);
            b[i] = calloc(1, lay.part[i].nbytes);
        }
    if (qk_quantize(ref, p, dt, in, rows, cols, a) != QK_OK || qk_quantize(cu, p, dt, in, rows, cols, b) != QK_OK) {
        printf("  %s %lldx%lld: quantize failed: %s\n", qk_format_name(p->format), (long long)rows, (long long)cols,
               qk_last_error());
        bad++;
    } else {
        for (int i = 0; i < QK_PART_COUNT; i++)
            if (lay.part[i].nbytes && memcmp(a[i], b[i], lay.part[i].nbytes) != 0) {
                printf("  %s %s %lldx%lld: part %d differs\n", qk_format_name(p->format), qk_dtype_name(dt),
                       (long long)rows, (long long)cols, i);
                bad++;
            }
        bad += dequantize_outputs_differ(ref, cu, p, (const void *const *)a, dt, rows, cols, o1, o2);
    }
    for (int i = 0; i < QK_PART_COUNT; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(o1);
    free(o2);
    return bad;
}

static size_t compare_shape(qk_context *ref, qk_context *cu, const qk_params *p, qk_dtype dt, int64_t rows,
                            int64_t cols)
{
    size_t n = (size_t)(rows * cols);
    void *in = malloc(n * qk_dtype_size(dt));
    fill(dt, in, (int64_t)n, (uint32_t)(rows * 131 + cols * 7 + p->format));
    size_t bad = compare_input(ref, cu, p, dt, rows, cols, in);
    free(in);
    return bad;
}

/* Columns that are not multiples of 8, 16 or 32, odd element counts, and a
 * tensor cut into many chunks whose boundaries fall inside 8-element groups
 * unless the plan aligns them. */
static void test_device_odd_shapes(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    setenv("QK_CUDA_CHUNK_BYTES", "20000", 1);
    setenv("QK_CUDA_STAGE_BYTES", "777", 1);
    qk_context *ref = NULL, *cu = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    static const int64_t shapes[][2] = {{1, 1}, {3, 5}, {17, 17}, {5, 1023}, {129, 33}, {300, 1001}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    size_t bad = 0;
    for (size_t f = 0; f < sizeof odd_formats / sizeof *odd_formats; f++)
        for (size_t d = 0; d < 3; d++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                bad += compare_shape(ref, cu, &odd_formats[f], dts[d], shapes[s][0], shapes[s][1]);
    qk_context_destroy(cu);
    qk_context_destroy(ref);
    unsetenv("QK_CUDA_CHUNK_BYTES");
    unsetenv("QK_CUDA_STAGE_BYTES");
    printf("odd shapes: %zu differences\n", bad);
    assert_int_equal(bad, 0);
}

/* Dequantize of parts a caller crafted: every seventh group's f32 scale
 * replaced by special[0], special[1], ... in turn, and every 37th code by
 * a float8 NaN or Inf pattern (the reference's NaN and overflow rules). */
static size_t compare_crafted_scales(qk_context *ref, qk_context *cu, const qk_params *p, qk_dtype dt,
                                     int64_t rows, int64_t cols, const uint32_t *special, size_t nspecial)
{
    qk_layout lay;
    if (qk_layout_query(p, rows, cols, &lay) != QK_OK)
        return 1;
    size_t es = qk_dtype_size(dt), n = (size_t)(rows * cols), bad = 0;
    void *in = malloc(n * es), *a[QK_PART_COUNT] = {0};
    unsigned char *o1 = malloc(n * es), *o2 = malloc(n * es);
    fill(dt, in, (int64_t)n, (uint32_t)(rows * 17 + cols));
    for (int i = 0; i < QK_PART_COUNT; i++)
        if (lay.part[i].nbytes)
            a[i] = calloc(1, lay.part[i].nbytes);
    if (qk_quantize(ref, p, dt, in, rows, cols, a) != QK_OK) {
        bad++;
    } else {
        uint32_t *sc = a[QK_PART_SCALE];
        size_t ns = lay.part[QK_PART_SCALE].nbytes / 4;
        for (size_t k = 0; k < ns; k += 7)
            sc[k] = special[(k / 7) % nspecial];
        static const unsigned char codes[] = {0x7F, 0xFF, 0x7C, 0xFC, 0x7E, 0x80};
        unsigned char *q = a[QK_PART_DATA];
        for (size_t k = 0; k < lay.part[QK_PART_DATA].nbytes; k += 37)
            q[k] = codes[(k / 37) % sizeof codes];
        if (qk_dequantize(ref, p, (const void *const *)a, rows, cols, dt, o1) != QK_OK ||
            qk_dequantize(cu, p, (const void *const *)a, rows, cols, dt, o2) != QK_OK || memcmp(o1, o2, n * es) != 0)
            bad++;
    }
    if (bad)
        printf("  %s %s %lldx%lld, crafted parts: dequantize differs\n", qk_format_name(p->format),
               qk_dtype_name(dt), (long long)rows, (long long)cols);
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(a[i]);
    free(in);
    free(o1);
    free(o2);
    return bad;
}

/* NaN, +-Inf, -0, a subnormal, FLT_MAX or a negative normal scales. */
static size_t compare_crafted_parts(qk_context *ref, qk_context *cu, const qk_params *p, qk_dtype dt,
                                     int64_t rows, int64_t cols)
{
    static const uint32_t special[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u, 0x80000000u,
                                       0x00000003u, 0x7F7FFFFFu, 0xC0400000u};
    return compare_crafted_scales(ref, cu, p, dt, rows, cols, special, sizeof special / sizeof *special);
}

/* Row and power-of-two tile groups dequantize row by row
 * (k_group_dequantize.cuh): rows of 2048 and 4096 (one row a block and
 * step), 64 x 64 tiles with partial edge tiles on rows of 25 vectors (ten
 * rows a step), chunks that cut tiles across their rows, and crafted
 * scales and codes must all give the reference's bytes. */
static void test_device_group_dequantize(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    setenv("QK_CUDA_CHUNK_BYTES", "100000", 1);
    qk_context *ref = NULL, *cu = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    static const qk_params formats[] = {
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 128, 0, 0},   {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_ROW, 128, 0, 0},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 0}, {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 64, 0, 0},
        {QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 64, 0, 0},
    };
    static const int64_t shapes[][2] = {{5, 2048}, {33, 4096}, {130, 200}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    size_t bad = 0;
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
        for (size_t d = 0; d < 3; d++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                bad += compare_shape(ref, cu, &formats[f], dts[d], shapes[s][0], shapes[s][1]);
                bad += compare_crafted_parts(ref, cu, &formats[f], dts[d], shapes[s][0], shapes[s][1]);
            }
    qk_context_destroy(cu);
    qk_context_destroy(ref);
    unsetenv("QK_CUDA_CHUNK_BYTES");
    printf("group dequantize: %zu differences\n", bad);
    assert_int_equal(bad, 0);
}

/* One element of a crafted ConvRot row: the fill's value v (|v| < 2) times
 * 2^e, stored in dt (bf16/f16 round, tiny values to subnormals or 0). */
static void put_scaled(qk_dtype dt, void *in, int64_t i, float v)
{
    uint32_t u = qk_bits(v);
    if (dt == QK_DTYPE_F32)
        memcpy((unsigned char *)in + 4 * i, &u, 4);
    else {
        uint16_t h = (uint16_t)(dt == QK_DTYPE_BF16 ? qk_f32_to_bf16(u) : qk_f32_to_f16(u));
        memcpy((unsigned char *)in + 2 * i, &h, 2);
    }
}

/* Rows of ConvRot inputs over the dtype's range (k_convrot_rows_q.cuh's
 * cases): row k scales the fill by 2^e[k] from below the subnormals to
 * near the largest values whose rotation stays finite, rows mixing a
 * normal half with a subnormal half, all-zero rows, one tiny or one huge
 * element, and rows whose largest unscaled sum passes 2^127 (bf16, f32)
 * or 65520 (f16) while the rotated values stay finite (the rows that
 * multiply by 2^-L first). f16 rows of small amax (d < 2^-13) are among
 * the scaled ones. With overflow set, every row's rotation overflows T:
 * the op must fail as the reference's does. Returns the differences. */
static size_t convrot_crafted_rows(qk_context *ref, qk_context *cu, int G, qk_dtype dt, int64_t cols, int overflow)
{
    int L = 0;
    while ((1 << (2 * L)) < G)
        L++;
    int lo = dt == QK_DTYPE_F16 ? -30 : -152, hi = dt == QK_DTYPE_F16 ? 14 - L - 2 : 126 - 2 * L - 2;
    const int64_t rows = 40;
    size_t es = qk_dtype_size(dt), n = (size_t)(rows * cols);
    void *in = malloc(n * es);
    fill(dt, in, (int64_t)n, (uint32_t)(G * 7 + cols + (int)dt));
    float big = dt == QK_DTYPE_F16 ? 60000.0f : 0x1.8p126f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            float v = qk_float(qk_load_f32(dt, in, i)), x;
            if (overflow)
                x = big * (v < 0.0f ? -1.0f : 1.0f);
            else if (r < 30) /* scaled rows, lo .. hi */
                x = ldexpf(v, lo + (int)((hi - lo) * r / 29));
            else if (r < 33) /* half normal, half (sub)normal of the smallest */
                x = ldexpf(v, (c & 1) ? lo + 4 : (dt == QK_DTYPE_F16 ? -6 + 4 * (int)(r - 30) : -100 + 40 * (int)(r - 30)));
            else if (r == 33)
                x = 0.0f;
            else if (r == 34)
                x = c == 5 ? ldexpf(1.0f, dt == QK_DTYPE_F16 ? -24 : -149) : 0.0f;
            else if (r == 35)
                x = c == cols - 1 ? -big : 0.0f;
            else /* two large elements that add in the first level */
                x = c == 4 * (r - 36) || c == 4 * (r - 36) + 1 ? (r & 1 ? -big : big) : ldexpf(v, (int)r - 60);
            put_scaled(dt, in, i, x);
        }
    qk_params p = {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, G};
    size_t bad = 0;
    qk_layout lay;
    assert_int_equal(qk_layout_query(&p, rows, cols, &lay), QK_OK);
    void *a[QK_PART_COUNT] = {0};
    for (int i = 0; i < QK_PART_COUNT; i++)
        a[i] = lay.part[i].nbytes ? malloc(lay.part[i].nbytes) : NULL;
    qk_status sr = qk_quantize(ref, &p, dt, in, rows, cols, a), sc = qk_quantize(cu, &p, dt, in, rows, cols, a);
    if (sr != sc || (overflow && sr != QK_ERR_NONFINITE)) {
        printf("  crafted G=%d %s %lld cols%s: status %d (reference %d)\n", G, qk_dtype_name(dt), (long long)cols,
               overflow ? " (overflow)" : "", (int)sc, (int)sr);
        bad++;
    } else if (sr == QK_OK) {
        size_t b = compare_input(ref, cu, &p, dt, rows, cols, in);
        if (b != 0)
            printf("  crafted G=%d %s %lld cols: %zu\n", G, qk_dtype_name(dt), (long long)cols, b);
        bad += b;
    }
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(a[i]);
    free(in);
    return bad;
}

/* ConvRot dequantize of G = 16, 64 and 256 on rows of whole 64-column
 * runs takes 64 values a thread (k_convrot64.cuh); the other
 * rows of up to 8192 columns rotate a row per block (k_convrot_rows.cuh);
 * wider rows, and G = 4, take the tile kernels. The first cases run in
 * chunks of a few rows; the second set in one chunk, more rows than an
 * H200 holds blocks (132 SMs x 8 at most), so that blocks step over rows
 * and prefetch the next. Shapes: rows of 16 and 32 columns, a 256-column
 * block cut by the row's end (G = 64), rows of 4096 with G = 1024, rows of
 * 4097..8192 whose threads' second unit is partly used, and 64-column runs
 * whose last team of four lanes is partly past the range (7 x 64, 4001 x
 * 64); then crafted finite scales on rows of 1024 for every G. (No NaN or
 * Inf scales here: the butterflies' NaN payloads are the GPU's, not the
 * x86 host's.) */
static void test_device_convrot_rows(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    typedef struct {
        int group;
        int64_t rows, cols;
    } cr_case;
    static const cr_case few[] = {
        {16, 7, 48},     {16, 5, 16},     {16, 9, 32},     {64, 9, 192},   {64, 7, 64},    {64, 4, 320},
        {256, 5, 4096},  {256, 40, 768},  {1024, 4, 4096}, {256, 3, 5120}, {64, 3, 4160},  {1024, 3, 5120},
        {1024, 3, 8192}, {1024, 2, 9216}, {4, 6, 36},      {4, 5, 64},     {16, 7, 64},    {16, 3, 192},
    };
    static const cr_case many[] = {
        {16, 4000, 48},    {64, 5000, 64},    {256, 3000, 256},  {1024, 2000, 1024},
        {256, 1500, 4096}, {1024, 1200, 5120}, {64, 1200, 4160}, {16, 4001, 64},   {256, 1001, 1280},
    };
    static const struct {
        const char *chunk;
        const cr_case *c;
        size_t n;
    } sets[] = {{"100000", few, sizeof few / sizeof *few}, {NULL, many, sizeof many / sizeof *many}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    size_t bad = 0;
    for (size_t t = 0; t < sizeof sets / sizeof *sets; t++) {
        if (sets[t].chunk != NULL)
            setenv("QK_CUDA_CHUNK_BYTES", sets[t].chunk, 1);
        qk_context *ref = NULL, *cu = NULL;
        assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
        assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
        for (size_t c = 0; c < sets[t].n; c++)
            for (size_t d = 0; d < 3; d++) {
                qk_params p = {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, sets[t].c[c].group};
                size_t b = compare_shape(ref, cu, &p, dts[d], sets[t].c[c].rows, sets[t].c[c].cols);
                if (b != 0)
                    printf("  G=%d %lldx%lld: %zu\n", sets[t].c[c].group, (long long)sets[t].c[c].rows,
                           (long long)sets[t].c[c].cols, b);
                bad += b;
            }
        qk_context_destroy(cu);
        qk_context_destroy(ref);
        unsetenv("QK_CUDA_CHUNK_BYTES");
    }
    /* Scales the data never gives (their sums stay finite: the GPU's NaN
     * payloads are its own): -0, subnormals, the least normal, a negative
     * normal and 2^100. */
    static const uint32_t finite[] = {0x80000000u, 0x00000003u, 0x807FFFFFu, 0x00800000u, 0xC0400000u, 0x71800000u};
    qk_context *ref = NULL, *cu = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    static const int groups[] = {16, 64, 256, 1024};
    for (size_t g = 0; g < 4; g++)
        for (size_t d = 0; d < 3; d++) {
            qk_params p = {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, groups[g]};
            bad += compare_crafted_scales(ref, cu, &p, dts[d], 300, 1024, finite, sizeof finite / sizeof *finite);
        }
    /* Crafted inputs, quantize's cases (rows of 1024 and 8192: both row
     * kernels), then rows whose rotation overflows (refused alike). */
    size_t crafted = 0;
    for (size_t g = 0; g < 4; g++)
        for (size_t d = 0; d < 3; d++)
            for (int64_t cols = 1024; cols <= 8192; cols *= 8)
                for (int over = 0; over < 2; over++)
                    crafted += convrot_crafted_rows(ref, cu, groups[g], dts[d], cols, over);
    printf("convrot rows, crafted inputs: %zu differences\n", crafted);
    bad += crafted;
    qk_context_destroy(cu);
    qk_context_destroy(ref);
    printf("convrot rows: %zu differences\n", bad);
    assert_int_equal(bad, 0);
}

/* Double quant's mean: the device sum is kept only when provably the
 * sequential one. f32 blocks over sixty binades with full significands
 * (the sum rounds: the host's sequential sum), a block of NaN (absmax
 * -FLT_MAX: refused), and plain input (kept) must all give the reference's
 * offset. */
static void test_device_double_quant_mean(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    qk_context *ref = NULL, *cu = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    const int64_t rows = 96, cols = 4096;
    uint32_t *in = malloc((size_t)(rows * cols) * 4);
    size_t bad = 0;
    for (int kind = 0; kind < 3; kind++) {
        fill(QK_DTYPE_F32, in, rows * cols, 77u + (uint32_t)kind);
        for (int64_t i = 0; i < rows * cols && kind < 2; i++) {
            int64_t b = i / 64;
            uint32_t e = 97u + (uint32_t)(b * 7 % 60);
            in[i] = (in[i] & 0x80000000u) | (e << 23) | (next32() & 0x7FFFFFu);
        }
        if (kind == 1)
            for (int64_t i = 640; i < 704; i++)
                in[i] = 0x7FC00000u;
        qk_params p = {QK_FORMAT_NF4, QK_SCALING_TENSOR, 64, 1, 0};
        bad += compare_input(ref, cu, &p, QK_DTYPE_F32, rows, cols, in);
    }
    free(in);
    qk_context_destroy(cu);
    qk_context_destroy(ref);
    printf("double-quant mean: %zu differences\n", bad);
    assert_int_equal(bad, 0);
}

/* NaN and +-Inf in the one-pass group kernels (k_group_quantize.cuh: a warp
 * a float8 row of 4096, a block an int8 row, a block a 128 x 128 tile;
 * k_convrot_rows.cuh: a ConvRot row a block, G = 16 and 256) and in
 * MXFP8's blocks (k_blocked.cuh: f16's amax on packed magnitudes), one element
 * of the last row (odd and even positions: either half of a packed word):
 * the reference's QK_ERR_NONFINITE, for each special in each dtype (f32
 * tiles of 128 x 128: qk_group_quantize_16k_f32). */
static void test_device_group_nonfinite(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    qk_context *cu = NULL;
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    static const qk_params fmts[] = {
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 128, 0, 0}, {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_ROW, 128, 0, 0},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 0}, {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 128, 0, 0},
        {QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 128, 0, 0}, {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 16},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 256}, {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 64},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 1024}, {QK_FORMAT_MXFP8, QK_SCALING_TENSOR, 32, 0, 0},
    };
    static const uint32_t specials[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
    const int64_t rows = 256, cols = 4096, n = rows * cols;
    void *in = malloc((size_t)n * 4);
    long bad = 0;
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++)
        for (int d = 0; d < 3; d++)
            for (size_t sp = 0; sp < sizeof specials / sizeof *specials; sp++) {
                qk_dtype dt = d == 2 ? QK_DTYPE_F32 : d ? QK_DTYPE_F16 : QK_DTYPE_BF16;
                qk_layout lay;
                assert_int_equal(qk_layout_query(&fmts[f], rows, cols, &lay), QK_OK);
                void *parts[QK_PART_COUNT] = {0};
                for (int i = 0; i < QK_PART_COUNT; i++)
                    parts[i] = lay.part[i].nbytes ? malloc(lay.part[i].nbytes) : NULL;
                fill(dt, in, n, (uint32_t)(f * 7 + sp));
                qk_store_f32(dt, in, n - 1 - (int64_t)sp * 1031, specials[sp]);
                qk_status st = qk_quantize(cu, &fmts[f], dt, in, rows, cols, parts);
                if (st != QK_ERR_NONFINITE) {
                    printf("  %s %s special %08x: status %d, not QK_ERR_NONFINITE\n", qk_format_name(fmts[f].format),
                           qk_dtype_name(dt), specials[sp], (int)st);
                    bad++;
                }
                for (int i = 0; i < QK_PART_COUNT; i++)
                    free(parts[i]);
            }
    free(in);
    qk_context_destroy(cu);
    printf("group kernels, nonfinite input: %ld cases not refused\n", bad);
    assert_int_equal(bad, 0);
}

/* A shared check of src/check/ on the CUDA backend: no case may differ. */
static void check_on_cuda(long (*check)(qk_context *, const char *), const char *what)
{
    if (!gpu_or_say_why())
        return;
    qk_context *cu = NULL;
    assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
    long bad = check(cu, "cuda");
    qk_context_destroy(cu);
    printf("%s: %ld cases differ\n", what, bad);
    assert_int_equal(bad, 0);
}

/* Tensor-scaled float8/int8 of every bf16 and f16 magnitude up to 1: the
 * 64 KiB code table (k_code_table.cuh) for every entry the scale reaches. */
static void test_device_every_magnitude16(void **state)
{
    (void)state;
    check_on_cuda(qkc_every_magnitude16, "every 16-bit magnitude");
}

/* The tensor amax over a tensor whose single peak moves through it. */
static void test_device_tensor_amax_every_step(void **state)
{
    (void)state;
    check_on_cuda(qkc_tensor_amax_positions, "tensor amax, a peak moved through the tensor");
}

/* Double quant's mean on the shared crafted inputs (src/check): ordinary
 * absmax and all zeros (qk_absmax_mean's offset kept), absmax over sixty
 * binades and an order-sensitive sum (the host's sequential mean). */
static void test_device_crafted_means(void **state)
{
    (void)state;
    check_on_cuda(qkc_crafted_means, "double-quant crafted means");
    check_on_cuda(qkc_crafted_means16, "double-quant crafted means of bf16");
}

/* NVFP4 dequantize (qk_nvfp4_dequantize8): every scale
 * byte with every code under g through every binade and the special g. */
static void test_device_nvfp4_every_scale_code(void **state)
{
    (void)state;
    check_on_cuda(qkc_nvfp4_every_scale_code, "nvfp4 every scale byte and code");
}

/* MXFP8 and NVFP4 dequantize of crafted parts (src/check): NaN, zero and
 * extreme scales, NaN codes, tails, and an MXFP8 tensor that meets every
 * E8M0 byte with every finite code (k_blocked.cuh, k_nvfp4_dequantize.cuh). */
static void test_device_crafted_blocked_dequantize(void **state)
{
    (void)state;
    check_on_cuda(qkc_crafted_blocked_dequantize, "crafted blocked dequantize");
}

/* NF4/FP4 dequantize of crafted parts (src/check): absmax from 2^-117 to
 * 2^32, so f16 outputs are subnormal, normal or past f16's range, ties
 * between f16 values, zero, subnormal, Inf and NaN absmax (k_bnb4.cuh). */
static void test_device_crafted_bnb4_dequantize(void **state)
{
    (void)state;
    check_on_cuda(qkc_crafted_bnb4_dequantize, "crafted nf4/fp4 dequantize");
}

/* ConvRot dequantize of crafted parts (src/check): every G and dtype,
 * every code byte, row scales either side of the native ranges, zero,
 * subnormal, huge, Inf and NaN scales; rows of whole 64-column runs
 * (k_convrot64.cuh) and others (k_convrot_rows.cuh, the tile kernels). */
static void test_device_crafted_convrot_dequantize(void **state)
{
    (void)state;
    check_on_cuda(qkc_crafted_convrot_dequantize, "crafted convrot dequantize");
}

/* ConvRot quantize of the shared crafted inputs (src/check/convrot_cases.c):
 * every G and dtype, zero, subnormal, outlier and wide-ranging rows, and the
 * NaN, Inf and rotation-overflow inputs both must refuse. */
static void test_device_convrot_quantize_cases(void **state)
{
    (void)state;
    check_on_cuda(qkc_convrot_quantize_cases, "convrot quantize cases");
}

/* f32 int8 and float8 codes near rounding ties
 * (src/check/f32_tie_cases.c): the codes by products and their
 * fallbacks against the reference. */
static void test_device_f32_near_ties(void **state)
{
    (void)state;
    check_on_cuda(qkc_f32_near_ties, "f32 near ties");
}

/* NVFP4 and MXFP8 dequantize of rows of whole 256-column spans
 * (k_blocked_dequantize_spans.cuh) into every dtype, over several
 * grid-stride steps, in one chunk and in many: every 11th scale byte
 * crafted (NaN, zero, the largest), MXFP8 NaN codes, an NVFP4 global scale
 * that makes large block scales infinite. */
static size_t compare_spans(qk_context *ref, qk_context *cu, qk_format fmt, uint32_t g, qk_dtype dt,
                            const void *in, int64_t rows, int64_t cols)
{
    static const unsigned char crafted[] = {0x7F, 0xFF, 0x7E, 0x00, 0xFE, 0x01, 0x80};
    qk_params p;
    qk_layout lay;
    qk_params_default(fmt, &p);
    if (qk_layout_query(&p, rows, cols, &lay) != QK_OK)
        return 1;
    size_t n = (size_t)(rows * cols), ob = n * qk_dtype_size(dt), bad = 0;
    void *a[QK_PART_COUNT] = {0};
    unsigned char *o1 = malloc(ob), *o2 = malloc(ob);
    for (int i = 0; i < QK_PART_COUNT; i++)
        if (lay.part[i].nbytes)
            a[i] = calloc(1, lay.part[i].nbytes);
    if (qk_quantize(ref, &p, dt, in, rows, cols, a) != QK_OK)
        bad++;
    unsigned char *sc = a[QK_PART_SCALE], *codes = a[QK_PART_DATA];
    for (size_t k = 0; k < lay.part[QK_PART_SCALE].nbytes; k += 11)
        sc[k] = crafted[(k / 11) % sizeof crafted];
    if (fmt == QK_FORMAT_MXFP8)
        for (size_t k = 0; k < lay.part[QK_PART_DATA].nbytes; k += 37)
            codes[k] = (k / 37) % 2 ? 0x7F : 0xFF;
    else
        memcpy(a[QK_PART_SCALE2], &g, 4);
    if (!bad && (qk_dequantize(ref, &p, (const void *const *)a, rows, cols, dt, o1) != QK_OK ||
                 qk_dequantize(cu, &p, (const void *const *)a, rows, cols, dt, o2) != QK_OK || memcmp(o1, o2, ob) != 0))
        bad++;
    if (bad)
        printf("  %s %s %lldx%lld, g 0x%08x: dequantize differs\n", qk_format_name(fmt), qk_dtype_name(dt),
               (long long)rows, (long long)cols, g);
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(a[i]);
    free(o1);
    free(o2);
    return bad;
}

static void test_device_span_dequantize(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    const int64_t rows = 700, cols = 4096; /* f32: about 3.5 steps of the H100's grid */
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    void *in = malloc((size_t)(rows * cols) * 4);
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    size_t bad = 0, cases = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        if (chunked)
            setenv("QK_CUDA_CHUNK_BYTES", "3000000", 1);
        qk_context *cu = NULL;
        assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
        for (size_t d = 0; d < 3; d++) {
            fill(dts[d], in, rows * cols, 0x5A175u + (uint32_t)d);
            bad += compare_spans(ref, cu, QK_FORMAT_MXFP8, 0, dts[d], in, rows, cols);
            bad += compare_spans(ref, cu, QK_FORMAT_NVFP4, 0x3F800000u, dts[d], in, rows, cols);
            bad += compare_spans(ref, cu, QK_FORMAT_NVFP4, 0x7F000000u, dts[d], in, rows, cols);
            cases += 3;
        }
        qk_context_destroy(cu);
    }
    unsetenv("QK_CUDA_CHUNK_BYTES");
    qk_context_destroy(ref);
    free(in);
    printf("span dequantize: %zu differing cases of %zu\n", bad, cases);
    assert_int_equal(bad, 0);
}

/* NF4/FP4 of f32 in blocks of 64 (qk_bnb4_quantize64_f32, _sum with double
 * quant) through the public API against the reference: the crafted blocks
 * (craft_f32_blocks) over a tensor of about 4.7 grid-stride steps on an
 * H100, and a tensor with a partial last block (the generic kernel's:
 * crafted values, or NaN only); in one chunk and in chunks of 390 blocks
 * (launches from b0 > 0, the mean's partials added over launches). Every
 * part compared by compare_input, and the dequantized output with them. */
static void test_device_bnb4_f32_blocks(void **state)
{
    (void)state;
    if (!gpu_or_say_why())
        return;
    static const int64_t shapes[][2] = {{1536, 4096}, {37, 1001}}; /* 98304 blocks; 578 and 45 elements */
    uint32_t *in = malloc((size_t)(shapes[0][0] * shapes[0][1]) * 4);
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    size_t bad = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        if (chunked)
            setenv("QK_CUDA_CHUNK_BYTES", "100000", 1); /* 390 blocks */
        qk_context *cu = NULL;
        assert_int_equal(qk_context_create("cuda", 0, &cu), QK_OK);
        for (size_t s = 0; s < 2; s++) {
            craft_f32_blocks(in, shapes[s][0] * shapes[s][1], s == 1 && chunked);
            for (int nf4 = 0; nf4 < 2; nf4++)
                for (int dq = 0; dq < 2; dq++) {
                    qk_params p;
                    assert_int_equal(qk_params_default(nf4 ? QK_FORMAT_NF4 : QK_FORMAT_FP4, &p), QK_OK);
                    p.block_size = 64;
                    p.double_quant = dq;
                    size_t d = compare_input(ref, cu, &p, QK_DTYPE_F32, shapes[s][0], shapes[s][1], in);
                    printf("%s%s f32 %lld x %lld, %s: %zu differing parts or outputs\n", nf4 ? "nf4" : "fp4",
                           dq ? ":dq" : "", (long long)shapes[s][0], (long long)shapes[s][1],
                           chunked ? "chunks of 390 blocks" : "one chunk", d);
                    bad += d;
                }
        }
        qk_context_destroy(cu);
    }
    unsetenv("QK_CUDA_CHUNK_BYTES");
    qk_context_destroy(ref);
    free(in);
    printf("f32 blocks of 64: %zu differing parts or outputs\n", bad);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_e2m1_exhaustive), cmocka_unit_test(test_host_bf16),
        cmocka_unit_test(test_host_bnb_codes), cmocka_unit_test(test_host_dynamic_map),
        cmocka_unit_test(test_host_int8_by_rcp), cmocka_unit_test(test_host_f16_code_halves),
        cmocka_unit_test(test_host_bnb4_f32_model),
        cmocka_unit_test(test_device_selftests), cmocka_unit_test(test_device_dynamic_map_lookup),
        cmocka_unit_test(test_device_pipeline_boundaries), cmocka_unit_test(test_device_portable_path),
        cmocka_unit_test(test_device_odd_shapes), cmocka_unit_test(test_device_group_dequantize),
        cmocka_unit_test(test_device_convrot_rows),
        cmocka_unit_test(test_device_double_quant_mean), cmocka_unit_test(test_device_crafted_means),
        cmocka_unit_test(test_device_every_magnitude16),
        cmocka_unit_test(test_device_tensor_amax_every_step),
        cmocka_unit_test(test_device_nvfp4_every_scale_code), cmocka_unit_test(test_device_group_nonfinite),
        cmocka_unit_test(test_device_crafted_convrot_dequantize),
        cmocka_unit_test(test_device_convrot_quantize_cases), cmocka_unit_test(test_device_f32_near_ties),
        cmocka_unit_test(test_device_crafted_blocked_dequantize),
        cmocka_unit_test(test_device_crafted_bnb4_dequantize),
        cmocka_unit_test(test_device_span_dequantize), cmocka_unit_test(test_device_bnb4_f32_blocks),
    };
    return run_tests_sharded("test_cuda", tests, sizeof tests / sizeof *tests);
}
