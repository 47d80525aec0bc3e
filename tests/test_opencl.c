/* OpenCL backend specifics (the cross-backend suite covers the formats on
 * every device): the integer f32 addition used where a device flushes
 * subnormals, the integer-code kernels (QK_OPENCL_SOFTFLOAT=1) on every
 * device, NaN/Inf handling, odd shapes, and the on-disk program cache
 * ignoring corrupt and foreign entries, and host ops in tiny chunks
 * (QK_OPENCL_CHUNK_BYTES) on two queues. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/opencl/cl_internal.h"
#include "check/crosscheck.h"
#include "qk/qk.h"
#include "ref/ref_internal.h"
#include "shard.h"
#include "../shaders/opencl/f32_add.cl"
#include "../shaders/opencl/fast_codec.cl"

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int have_opencl(int *devices)
{
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        if (qk_backend_get_info(b, &bi) == QK_OK && strcmp(bi.name, "opencl") == 0) {
            if (!bi.available)
                printf("SKIP: opencl unavailable: %s\n", bi.unavailable_reason);
            *devices = bi.device_count;
            return bi.available;
        }
    }
    return 0;
}

/* The OpenCL devices as the backend lists them (their capabilities and
 * names); skips the test, saying why, where the backend is unavailable. */
static int opencl_devices(const qcl_device **d)
{
    int nd;
    if (!have_opencl(&nd))
        skip();
    return qcl_devices(d, NULL);
}

/* Random operand pairs biased to the hard cases: close exponents
 * (cancellation), subnormals, zeros of both signs, infinities. */
static uint32_t pick(uint64_t *s, uint32_t other)
{
    uint64_t r = rng(s);
    switch (r % 8) {
    case 0: return (uint32_t)(r >> 32) & 0x807FFFFFu;             /* subnormal or zero */
    case 1: return (other ^ 0x80000000u) + (uint32_t)((r >> 40) % 5) - 2u; /* near -other */
    case 2: return (other & 0xFF800000u) | ((uint32_t)(r >> 32) & 0x807FFFFFu);
    case 3: return ((r >> 40) & 1 ? 0x80000000u : 0u) | ((r >> 41) & 1 ? 0x7F800000u : 0u);
    default: return (uint32_t)(r >> 32);
    }
}

static void test_soft_add_matches_host(void **st)
{
    (void)st;
    uint64_t s = 0x1234567u, bad = 0;
    for (long i = 0; i < 20000000; i++) {
        uint32_t a = (uint32_t)(rng(&s) >> 32), b = pick(&s, a);
        if (i & 1) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        uint32_t got = qk_f32_add_soft(a, b), want = qk_fadd(a, b);
        int ok = qk_f32_is_nan(want) ? qk_f32_is_nan(got) != 0 : got == want;
        if (!ok && bad++ < 5)
            printf("  MISMATCH add %08x + %08x: got %08x want %08x\n", a, b, got, want);
    }
    assert_int_equal(bad, 0);
}

/* Every sign/exponent/upper-mantissa pattern with rounding-relevant low
 * halves, every NF4 threshold and its neighbours, and random patterns. */
/* The walking dequantize's float8 NaN/Inf test on words of four codes,
 * against a byte-by-byte check: every byte value at every position among
 * random neighbours, and every pair of values in the two middle bytes. */
static void test_fp8_special_words(void **st)
{
    (void)st;
    static const uint32_t masks[] = {0x7F7F7F7Fu, 0x7C7C7C7Cu};
    uint64_t bad = 0, hits = 0, s = 99;
    for (size_t m = 0; m < 2; m++) {
        uint32_t mb = masks[m] & 0xFFu;
        for (uint32_t k = 0; k < (1u << 24); k++) {
            uint32_t w;
            if (k < (1u << 16))
                w = (k << 8) | ((uint32_t)rng(&s) & 0xFF0000FFu);
            else
                w = ((uint32_t)rng(&s) & ~(0xFFu << (8 * (k & 3)))) | (((k >> 2) & 0xFFu) << (8 * (k & 3)));
            int want = 0;
            for (int b = 0; b < 4; b++)
                want |= ((w >> (8 * b)) & mb) == mb;
            int got = qk_bytes_have_mask(w, masks[m]) != 0;
            bad += got != want;
            hits += want;
        }
    }
    assert_true(hits > 1000000);
    assert_int_equal(bad, 0);
}

static void test_fast_codec_equals_codec(void **st)
{
    (void)st;
    static const uint32_t lows[] = {0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x4000, 0xC000,
                                    0x0FFF, 0x1000, 0x1001, 0x3000, 0x2000}; /* bf16 and f16 ties */
    uint64_t bad = 0, s = 77;
    for (uint32_t hi = 0; hi < 0x10000u; hi++)
        for (size_t l = 0; l < sizeof lows / sizeof *lows; l++) {
            uint32_t a = (hi << 16) | lows[l];
            bad += qk_f32_to_bf16_fast(a) != qk_f32_to_bf16(a);
            bad += qk_f32_to_f16_fast(a) != qk_f32_to_f16(a);
            bad += qk_f32_to_f16_native(a) != qk_f32_to_f16(a);
            bad += qk_f32_to_e4m3_fast(a) != qk_f32_to_e4m3(a);
            bad += qk_f32_to_e5m2_fast(a) != qk_f32_to_e5m2(a);
            bad += qk_fp4_encode_fast(a) != qk_fp4_encode(a);
        }
    for (long i = 0; i < 20000000; i++) {
        uint32_t a = (uint32_t)(rng(&s) >> 32);
        bad += qk_f32_to_bf16_fast(a) != qk_f32_to_bf16(a);
        bad += qk_f32_to_f16_fast(a) != qk_f32_to_f16(a);
        bad += qk_f32_to_f16_native(a) != qk_f32_to_f16(a);
        bad += qk_f32_to_e4m3_fast(a) != qk_f32_to_e4m3(a);
        bad += qk_f32_to_e5m2_fast(a) != qk_f32_to_e5m2(a);
        bad += qk_fp4_encode_fast(a) != qk_fp4_encode(a);
    }
    static const uint32_t fp4_t[] = {0x3B2AAAB9u, 0x3DB00000u, 0x3E555555u, 0x3E955555u,
                                     0x3ED55556u, 0x3F155550u, 0x3F555555u, 0u};
    for (size_t t = 0; t < sizeof fp4_t / sizeof *fp4_t; t++)
        for (uint32_t d = 0; d < 5; d++) {
            uint32_t a = fp4_t[t] + d - 2u;
            bad += qk_fp4_encode_fast(a) != qk_fp4_encode(a);
            bad += qk_fp4_encode_fast(a ^ QK_F32_SIGN) != qk_fp4_encode(a ^ QK_F32_SIGN);
        }
    for (uint32_t a = 0x38000000u; a < 0x47800000u; a += 0x7u) /* densely over f16's normal range */
        bad += qk_f32_to_f16_fast(a) != qk_f32_to_f16(a) || qk_f32_to_f16_fast(a | QK_F32_SIGN) != qk_f32_to_f16(a | QK_F32_SIGN) ||
               qk_f32_to_f16_native(a) != qk_f32_to_f16(a) || qk_f32_to_f16_native(a | QK_F32_SIGN) != qk_f32_to_f16(a | QK_F32_SIGN);
    for (uint32_t a = 0; a < 0x38800000u; a += 0x1Fu) /* the native form's f16-subnormal add, f32 subnormals too */
        bad += qk_f32_to_f16_native(a) != qk_f32_to_f16(a) || qk_f32_to_f16_native(a | QK_F32_SIGN) != qk_f32_to_f16(a | QK_F32_SIGN);
    for (uint32_t k = 0; k <= 1024; k++) { /* every f16-subnormal tie (k + 1/2) 2^-24, and one ulp either side */
        float tie = ldexpf((float)(2 * k + 1), -25);
        uint32_t t;
        memcpy(&t, &tie, 4);
        for (uint32_t a = t - 1u; a != t + 2u; a++)
            bad += qk_f32_to_f16_native(a) != qk_f32_to_f16(a);
    }
    for (uint32_t a = 0x3C000000u; a < 0x44000000u; a += 0xFu) /* densely around e4m3's range */
        bad += qk_f32_to_e4m3_fast(a) != qk_f32_to_e4m3(a);
    for (uint32_t a = 0x38000000u; a < 0x48000000u; a += 0xFu) /* and e5m2's */
        bad += qk_f32_to_e5m2_fast(a) != qk_f32_to_e5m2(a) || qk_f32_to_e5m2_fast(a | QK_F32_SIGN) != qk_f32_to_e5m2(a | QK_F32_SIGN);
    for (uint32_t a = QK_F32_E8M0_MIN; a < QK_F32_INF; a += 0x3FFu) /* e8m0 over [2^-127, max] */
        bad += qk_e8m0_ceil_fast(a) != qk_e8m0_ceil(a);
    for (uint32_t ex = 0; ex < 255; ex++)
        for (uint32_t m = 0; m < 4; m++) {
            uint32_t a = (ex << 23) | (m == 3 ? 0x7FFFFFu : m);
            if (a >= QK_F32_E8M0_MIN)
                bad += qk_e8m0_ceil_fast(a) != qk_e8m0_ceil(a);
        }
    assert_int_equal(bad, 0);
}

/* NF4 by bucket (fast_codec.cl, as bnb4_quantize runs it) against the
 * codec: no bucket holds two thresholds, and every bf16 pattern, every f32
 * within 2^15 ulps of each bucket edge and each threshold (both signs), the
 * zeros, subnormals, Inf and NaN region and random patterns code alike. */
static uint32_t nf4_base[QK_NF4_BUCKETS], nf4_key[QK_NF4_BUCKETS];

static uint64_t nf4_bucket_bad(uint32_t x)
{
    uint32_t i = qk_nf4_bucket_index(x);
    uint64_t bad = i >= QK_NF4_BUCKETS || qk_nf4_from_bucket(x, nf4_base[i], nf4_key[i]) != qk_nf4_encode(x);
    if (bad && i < QK_NF4_BUCKETS)
        printf("  MISMATCH nf4 bucket %u x=%08x: got %u want %u\n", i, x,
               qk_nf4_from_bucket(x, nf4_base[i], nf4_key[i]), qk_nf4_encode(x));
    return bad;
}

static void test_nf4_bucket_equals_codec(void **st)
{
    (void)st;
    uint64_t bad = 0, s = 4242;
    for (uint32_t i = 0; i < QK_NF4_BUCKETS; i++) {
        nf4_base[i] = qk_nf4_bucket_base(i);
        nf4_key[i] = qk_nf4_bucket_key(i);
        if ((i & 31u) <= 20u) /* one threshold per bucket at most */
            bad += qk_nf4_encode(qk_nf4_bucket_end(i, 1u)) - nf4_base[i] > 1u;
    }
    for (uint32_t h = 0; h < 0x10000u; h++)
        bad += nf4_bucket_bad(h << 16);
    for (uint32_t b = QK_NF4_BUCKET_BASE; b <= QK_NF4_BUCKET_BASE + 22u; b++)
        for (uint32_t d = 0; d < 0x10000u; d++) {
            uint32_t x = (b << 21) - 0x8000u + d;
            bad += nf4_bucket_bad(x) + nf4_bucket_bad(x ^ QK_F32_SIGN);
        }
    for (uint32_t k = 0; k < 15; k++)
        for (uint32_t d = 0; d < 0x10000u; d++) {
            uint32_t x = qk_nf4_threshold(k) - 0x8000u + d;
            bad += nf4_bucket_bad(x) + nf4_bucket_bad(x ^ QK_F32_SIGN);
        }
    for (uint32_t x = 0; x < 0x100000u; x++) { /* zeros, subnormals; Inf and NaN */
        bad += nf4_bucket_bad(x) + nf4_bucket_bad(x ^ QK_F32_SIGN);
        bad += nf4_bucket_bad(0x7F7F8000u + x) + nf4_bucket_bad((0x7F7F8000u + x) ^ QK_F32_SIGN);
    }
    for (long i = 0; i < 20000000; i++)
        bad += nf4_bucket_bad((uint32_t)(rng(&s) >> 32));
    assert_int_equal(bad, 0);
}

/* MXFP8's division-free element code against the reference's steps for
 * every scale byte: each exponent (subnormals included) with edge and random
 * mantissas, both signs, and Inf/NaN. */
static void test_mxfp8_code_equals_division(void **st)
{
    (void)st;
    uint64_t bad = 0, s = 99;
    for (uint32_t e = 0; e < 255; e++) {
        uint32_t d = qk_e8m0_to_f32(e);
        for (uint32_t ex = 0; ex < 256; ex++)
            for (int m = 0; m < 24; m++) {
                uint32_t mant = m < 8 ? (uint32_t)m : (m < 16 ? 0x7FFFFFu - (uint32_t)(m - 8)
                                                              : (uint32_t)(rng(&s) >> 41));
                uint32_t x = (ex << 23) | mant | ((m & 1) ? QK_F32_SIGN : 0u);
                uint32_t want = qk_f32_to_e4m3(qk_f32_clamp_abs(qk_f32_div(x, d), QK_F32_E4M3_MAX));
                uint32_t got = qk_mxfp8_code(x, e);
                if (got != want && bad++ < 5)
                    printf("  MISMATCH mxfp8 x=%08x e=%u: got %02x want %02x\n", x, e, got, want);
            }
    }
    assert_int_equal(bad, 0);
}

static void print_bad_row(void *user, const qkc_row *r)
{
    (void)user;
    if (r->mismatches)
        printf("  %s %s on %s dev%d: %zu mismatches\n", r->format, r->dtype, r->backend, r->device,
               r->mismatches);
}

/* Every format through the integer-code kernels (mul, div, add emulated). */
static void test_soft_float_kernels_bit_exact(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_SOFTFLOAT", "1", 1);
    qkc_options opt = {0, 0, "opencl"};
    long total = qkc_run(&opt, print_bad_row, NULL);
    unsetenv("QK_OPENCL_SOFTFLOAT");
    assert_int_equal(total, 0);
}

/* Every format with the guarded native operations that GPUs get (native
 * results only for zero/normal operands and results), forced on CPU devices
 * too, where they are otherwise left out. */
static void test_guarded_native_kernels_bit_exact(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_NATIVE_GUARD", "1", 1);
    qkc_options opt = {0, 0, "opencl"};
    long total = qkc_run(&opt, print_bad_row, NULL);
    unsetenv("QK_OPENCL_NATIVE_GUARD");
    assert_int_equal(total, 0);
}

/* A double-quant means check on every device; each must take the host's
 * sum for exactly `host` of its cases. Returns the bad cases. */
static long means_on_devices(int nd, long (*check)(qk_context *, const char *), const char *what,
                             unsigned long host)
{
    long bad = 0;
    for (int d = 0; d < nd; d++) {
        qk_context *ctx;
        assert_int_equal(qk_context_create("opencl", d, &ctx), QK_OK);
        unsigned long before = qcl_mean_fallbacks();
        bad += check(ctx, "opencl");
        unsigned long taken = qcl_mean_fallbacks() - before;
        printf("opencl device %d: %lu of %s took the host's sum\n", d, taken, what);
        assert_int_equal(taken, host);
        qk_context_destroy(ctx);
    }
    return bad;
}

/* Means the device divides itself (bnb_mean.cl's long division and two
 * roundings), in one chunk: every case but the subnormal mean without the
 * host, on every device. */
static void test_device_means(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(means_on_devices(nd, qkc_random_means, "19 means", 1), 0);
}

static long every_magnitude16_on_devices(int nd);

/* The program a GPU that passed the probe runs: the finite-operand check
 * and one kernel copy per format and dtype (QK_SPECIALISE), on every
 * device whose probe passes (CPU devices otherwise get neither). */
static void test_gpu_program_bit_exact(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_NATIVE_GUARD", "finite", 1);
    setenv("QK_OPENCL_SPECIALISE", "1", 1);
    qkc_options opt = {0, 0, "opencl"};
    long total = qkc_run(&opt, print_bad_row, NULL);
    long tables = every_magnitude16_on_devices(nd);
    unsetenv("QK_OPENCL_NATIVE_GUARD");
    unsetenv("QK_OPENCL_SPECIALISE");
    assert_int_equal(total, 0);
    assert_int_equal(tables, 0);
}

/* The probe's pairs tell a device that flushes subnormal operands (DAZ) or
 * results (FTZ) from one that keeps them. */
static uint32_t flush(uint32_t v) { return (v & 0x7F800000u) == 0u ? v & 0x80000000u : v; }

static void test_probe_tells_flushing_apart(void **st)
{
    (void)st;
    enum { N = 6144 };
    static uint32_t a[N], b[N], out[3 * N];
    qcl_probe_pairs(a, b, N);
    for (int mode = 0; mode < 4; mode++) { /* bit 0: DAZ, bit 1: FTZ */
        for (int i = 0; i < N; i++) {
            uint32_t x = mode & 1 ? flush(a[i]) : a[i], y = mode & 1 ? flush(b[i]) : b[i];
            uint32_t r[3] = {qk_fmul(x, y), qk_fadd(x, y), qk_fdiv(x, y)};
            for (int k = 0; k < 3; k++)
                out[3 * i + k] = mode & 2 ? flush(r[k]) : r[k];
        }
        int bad = qcl_probe_mismatches(a, b, out, N, 1);
        printf("probe, %s: %d mismatches\n", mode == 0 ? "IEEE" : mode == 1 ? "DAZ" : mode == 2 ? "FTZ" : "DAZ+FTZ",
               bad);
        if (mode == 0)
            assert_int_equal(bad, 0);
        else
            assert_true(bad > 100);
    }
}

/* The probe on every device: printed; a CPU device that reports subnormal
 * support (PoCL) must pass it. */
static void test_probe_on_devices(void **st)
{
    (void)st;
    const qcl_device *d;
    int nd = opencl_devices(&d);
    for (int i = 0; i < nd; i++) {
        qcl_state s = {0};
        cl_int err;
        s.cl = qcl_load(NULL);
        s.dev = &d[i];
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d[i].platform, 0};
        s.ctx = s.cl->clCreateContext(props, 1, &d[i].device, NULL, NULL, &err);
        assert_int_equal(err, CL_SUCCESS);
        s.qs[0] = s.cl->clCreateCommandQueue(s.ctx, d[i].device, 0, &err);
        assert_int_equal(err, CL_SUCCESS);
        int ok = qcl_probe_ieee(&s, d[i].cr_divide);
        /* the division flag says whether qk_div is native there (QK_NATIVE_DIV) */
        printf("%s [%s]: native f32 %s subnormals (reports CL_FP_DENORM: %s, correctly rounded division: %s)\n",
               d[i].name, d[i].platform_name, ok ? "keeps" : "does not keep", d[i].denorms ? "yes" : "no",
               d[i].cr_divide ? "yes" : "no");
        if (d[i].host_cpu && d[i].denorms)
            assert_true(ok);
        s.cl->clReleaseCommandQueue(s.qs[0]);
        s.cl->clReleaseContext(s.ctx);
    }
}

static size_t esz(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

/* Quantizes and dequantizes on every OpenCL device and on the CPU; every
 * byte (and the status) must agree. */
static long compare_all(const qk_params *p, qk_dtype dt, const void *in, int64_t rows, int64_t cols)
{
    qk_layout lay;
    assert_int_equal(qk_layout_query(p, rows, cols, &lay), QK_OK);
    void *want[4] = {0}, *got[4] = {0};
    for (int k = 0; k < 4; k++)
        if (lay.part[k].nbytes) {
            want[k] = malloc(lay.part[k].nbytes);
            got[k] = malloc(lay.part[k].nbytes);
        }
    size_t on = (size_t)(rows * cols) * esz(dt);
    uint8_t *dw = malloc(on), *dg = malloc(on);
    qk_status ws = qk_quantize(NULL, p, dt, in, rows, cols, want);
    long bad = 0;
    int nd;
    have_opencl(&nd);
    for (int d = 0; d < nd; d++) {
        qk_context *ctx;
        assert_int_equal(qk_context_create("opencl", d, &ctx), QK_OK);
        qk_status gs = qk_quantize(ctx, p, dt, in, rows, cols, got);
        if (gs != ws) {
            printf("  %s %lldx%lld dev%d: status %d, cpu %d (%s)\n", qk_format_name(p->format), (long long)rows,
                   (long long)cols, d, gs, ws, qk_last_error());
            bad++;
        } else if (ws == QK_OK) {
            for (int k = 0; k < 4; k++)
                if (lay.part[k].nbytes && memcmp(want[k], got[k], lay.part[k].nbytes) != 0) {
                    size_t o = 0;
                    const uint8_t *w = want[k], *g = got[k];
                    while (w[o] == g[o])
                        o++;
                    printf("  %s %s %lldx%lld dev%d: part %d differs, first at byte %zu: %02x, cpu %02x\n",
                           qk_format_name(p->format), qk_dtype_name(dt), (long long)rows, (long long)cols, d, k, o,
                           g[o], w[o]);
                    bad++;
                }
            const void *cp[4] = {want[0], want[1], want[2], want[3]};
            assert_int_equal(qk_dequantize(NULL, p, cp, rows, cols, dt, dw), QK_OK);
            assert_int_equal(qk_dequantize(ctx, p, cp, rows, cols, dt, dg), QK_OK);
            if (memcmp(dw, dg, on) != 0) {
                printf("  %s %lldx%lld dev%d: dequantized output differs\n", qk_format_name(p->format),
                       (long long)rows, (long long)cols, d);
                bad++;
            }
        }
        qk_context_destroy(ctx);
    }
    for (int k = 0; k < 4; k++) {
        free(want[k]);
        free(got[k]);
    }
    free(dw);
    free(dg);
    return bad;
}

static void fill(qk_dtype dt, void *buf, int64_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)((int64_t)(rng(&s) % 20001) - 10000) / 7919.0f;
        qk_store_f32(dt, buf, i, qk_bits(v));
    }
}

/* Shapes the cross-backend set avoids: odd element counts, columns that
 * are not multiples of 8, tiles narrower than a vector. */
static long nonfinite_bad(void);

static long odd_shapes_bad(void)
{
    static const int64_t shapes[][2] = {{1, 1}, {3, 5}, {17, 17}, {5, 1023}, {129, 33}};
    long bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int f = 0; f < QK_FORMAT_COUNT; f++)
            for (int dt = 0; dt < 3; dt++) {
                int64_t rows = shapes[si][0], cols = shapes[si][1];
                qk_params p;
                qk_params_default((qk_format)f, &p);
                if (f == QK_FORMAT_FLOAT8_E4M3FN || f == QK_FORMAT_INT8_BLOCKWISE) {
                    p.scaling = QK_SCALING_BLOCK;
                    p.block_size = 7;
                }
                if (f == QK_FORMAT_FLOAT8_E5M2)
                    p.scaling = QK_SCALING_ROW;
                if (f == QK_FORMAT_FP4)
                    p.double_quant = 1;
                if (si == 0 && dt == 0) /* progress: which format a driver abort hit */
                    printf("odd shapes: %s\n", qk_format_name((qk_format)f));
                void *in = malloc((size_t)(rows * cols) * 4);
                fill((qk_dtype)dt, in, rows * cols, (uint64_t)(si * 31 + f * 3 + dt + 1));
                bad += compare_all(&p, (qk_dtype)dt, in, rows, cols);
                free(in);
            }
    return bad;
}

/* The odd shapes on every device. NF4/FP4 of bf16/f16 in blocks of 64
 * (partial last blocks included) must have taken bnb4_quantize64. */
static void test_odd_shapes(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    unsigned long before = qcl_bnb4_q64_runs();
    assert_int_equal(odd_shapes_bad(), 0);
    unsigned long runs = qcl_bnb4_q64_runs() - before;
    printf("bnb4_quantize64: %lu launches\n", runs);
    assert_true(runs > 0);
}

/* A shape for the kernels of rows of whole 8-element vectors, and whether
 * to run it on 768 work-items (many rounds of their grid-stride loops). */
typedef struct {
    qk_dtype dt;
    int64_t rows, cols;
    int few;
} vec_shape;

static long compare_shape_items(const qk_params *p, const vec_shape *sh, const void *in)
{
    if (sh->few)
        setenv("QK_OPENCL_GRID_ITEMS", "768", 1);
    long b = compare_all(p, sh->dt, in, sh->rows, sh->cols);
    unsetenv("QK_OPENCL_GRID_ITEMS");
    return b;
}

/* MXFP8 of rows of whole 16-byte vectors by mxfp8_quantize16 (bf16/f16,
 * 8-element vectors) and mxfp8_quantize32 (f32, 4-element vectors):
 * widths of 8 mod 16 (f32: 4 mod 8) and not multiples of 128, padded rows,
 * many rounds of the grid-stride loop (QK_OPENCL_GRID_ITEMS=768) across
 * row ends, and bf16/f32 blocks of amax below 2^-100 (the dividing path)
 * beside subnormals. f32 also: blocks whose amax is near 2^100 beside
 * values down to f32's subnormals (products below 2^-126), and amaxes at
 * and next to a binade's 1.75 (qk_mxfp8_exponent_fast's turning point).
 * Widths that are not whole vectors keep mxfp8_quantize. */
static void mxfp8_f32_edges(void *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t blk = i / 32, k = i % 32;
        float v;
        if (blk % 3 == 0) /* 1.75 * 2^e and one ulp either side leads the block */
            v = k == 0 ? nextafterf(ldexpf(1.75f, (int)(blk % 40) - 20), (blk / 3) % 3 == 0 ? 0.0f : 1e30f)
                       : ldexpf(1.0f + (float)k / 32.0f, (int)(blk % 40) - 21 - (int)(k % 5));
        else if (blk % 3 == 1) /* 2^100-ish beside tiny and subnormal values */
            v = k == 0 ? ldexpf(1.9f, 100) : ldexpf(1.0f + (float)k / 64.0f, -30 - 4 * (int)k);
        else
            continue;
        qk_store_f32(QK_DTYPE_F32, in, i, qk_bits((i & 2) ? -v : v));
    }
}

static void test_mxfp8_quantize_vectors(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const vec_shape shapes[] = {{QK_DTYPE_BF16, 130, 1024, 0}, {QK_DTYPE_F16, 263, 256, 0},
                                       {QK_DTYPE_BF16, 37, 200, 0},   {QK_DTYPE_F16, 33, 264, 1},
                                       {QK_DTYPE_BF16, 97, 1032, 1},  {QK_DTYPE_F32, 40, 256, 0},
                                       {QK_DTYPE_F32, 33, 260, 1},    {QK_DTYPE_F32, 70, 1028, 0},
                                       {QK_DTYPE_F32, 9, 1002, 0},    {QK_DTYPE_BF16, 5, 1001, 0}};
    qk_params p;
    qk_params_default(QK_FORMAT_MXFP8, &p);
    long bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        qk_dtype dt = shapes[k].dt;
        int f32 = dt == QK_DTYPE_F32;
        for (int kind = 0; kind < (dt == QK_DTYPE_BF16 ? 2 : f32 ? 3 : 1); kind++) {
            int64_t n = shapes[k].rows * shapes[k].cols;
            void *in = malloc((size_t)n * 4);
            fill(dt, in, n, 90 + k * 3 + (uint64_t)kind);
            if (kind == 1) /* every third value 2^-101 .. 2^-133, and the first two rows all such */
                for (int64_t i = 0; i < n; i++)
                    if (i % 3 == 0 || i < 2 * shapes[k].cols)
                        qk_store_f32(dt, in, i, qk_bits(ldexpf((i & 1) ? -1.5f : 1.0f, -101 - (int)(i % 33))));
            if (kind == 2)
                mxfp8_f32_edges(in, n);
            unsigned long before16 = qcl_mxfp8_q16_runs(), before32 = qcl_mxfp8_q32_runs();
            long b = compare_shape_items(&p, &shapes[k], in);
            unsigned long runs16 = qcl_mxfp8_q16_runs() - before16, runs32 = qcl_mxfp8_q32_runs() - before32;
            int vec = shapes[k].cols % (f32 ? 4 : 8) == 0;
            printf("mxfp8 %s %lld x %lld%s%s: %ld differing cases, %lu mxfp8_quantize16 and %lu mxfp8_quantize32 "
                   "launches\n",
                   qk_dtype_name(dt), (long long)shapes[k].rows, (long long)shapes[k].cols,
                   kind == 1 ? ", tiny values" : kind == 2 ? ", f32 edges" : "",
                   shapes[k].few ? ", 768 work-items" : "", b, runs16, runs32);
            bad += b;
            assert_int_equal(runs16 != 0, vec && !f32);
            assert_int_equal(runs32 != 0, vec && f32);
            free(in);
        }
    }
    assert_int_equal(bad, 0);
}

/* NVFP4 by nvfp4_quantize16 (bf16/f16 rows of whole 8-element vectors) and
 * nvfp4_dequantize_blocks (any dtype, whole vectors), against the
 * reference: widths of 8 mod 16 (a half block ends each row), padded rows,
 * many rounds of the grid-stride loops (QK_OPENCL_GRID_ITEMS=768) across
 * row ends; values: random, f16/bf16 subnormals and tiny blocks (scales of
 * 0 and subnormal t, the zero-block rule) among larger ones, huge magnitudes (g and t at the
 * top of the range), -0 elements, values at and next to each block's code
 * boundaries (amax 2688 makes g = 1, and a block led by 6 * 2^e then has
 * t = 2^e), NaN and Inf (the call
 * fails, as the reference's). Widths that are not multiples of 8, and f32
 * for quantize, keep nvfp4.cl's kernels. */
static void nvfp4_edge_values(qk_dtype dt, void *in, int64_t n, int kind)
{
    static const float bnd[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 6.0f};
    uint64_t s = 0x4E5F4u + (uint64_t)kind;
    for (int64_t i = 0; i < n; i++) {
        uint32_t v;
        int64_t k = i % 16, blk = i / 16;
        switch (kind) {
        case 1: /* subnormal and tiny: f16 subnormals, bf16 down to 2^-133 */
            v = qk_bits(ldexpf((float)(rng(&s) % 1024) / 1024.0f, dt == QK_DTYPE_F16 ? -14 : -120 - (int)(blk % 14)));
            if (blk % 7 == 0) /* an f16 g would underflow to 0 without a larger block */
                v = qk_bits(ldexpf((float)(rng(&s) % 1024) / 1024.0f, (int)(blk % 5) - 2));
            break;
        case 2: /* huge: near the dtype's largest finite value */
            v = qk_bits(ldexpf(1.0f + (float)(rng(&s) % 128) / 128.0f, dt == QK_DTYPE_F16 ? 15 : 126 - (int)(blk % 3)));
            break;
        case 3: { /* the block's boundaries times t = 2^e, and one 16-bit step either side */
            int e = (int)(blk % 14) - 6;
            if (k == 0) {
                v = qk_bits(ldexpf(6.0f, e));
                break;
            }
            uint32_t b = qk_bits(ldexpf(bnd[(k - 1) % 8], e)), step = dt == QK_DTYPE_F16 ? 0x2000u : 0x10000u;
            int d = (int)(rng(&s) % 3) - 1;
            v = b + (uint32_t)(d * (int)step);
            break;
        }
        default:
            v = qk_bits((float)((int64_t)(rng(&s) % 20001) - 10000) / 7919.0f);
        }
        if (rng(&s) % 5 == 0)
            v ^= 0x80000000u;
        if (rng(&s) % 97 == 0)
            v = 0x80000000u; /* -0 */
        if (kind == 1 && blk % 5 == 4)
            v = 0u; /* all-zero blocks */
        if (kind == 3 && i == 16)
            v = qk_bits(2688.0f); /* the tensor amax: g = 1, so a block led by 6 * 2^e has t = 2^e */
        qk_store_f32(dt, in, i, v);
    }
}

static void test_nvfp4_fast_kernels(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const vec_shape shapes[] = {{QK_DTYPE_BF16, 130, 1024, 0}, {QK_DTYPE_F16, 263, 256, 0},
                                       {QK_DTYPE_BF16, 37, 200, 0},   {QK_DTYPE_F16, 33, 264, 1},
                                       {QK_DTYPE_BF16, 97, 1032, 1},  {QK_DTYPE_BF16, 3, 4104, 0},
                                       {QK_DTYPE_F16, 1, 8, 0},       {QK_DTYPE_F32, 40, 256, 0},
                                       {QK_DTYPE_BF16, 5, 1001, 0}};
    qk_params p;
    qk_params_default(QK_FORMAT_NVFP4, &p);
    long bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int kind = 0; kind < 4; kind++) {
            int64_t n = shapes[k].rows * shapes[k].cols;
            void *in = malloc((size_t)n * 4);
            nvfp4_edge_values(shapes[k].dt, in, n, kind);
            unsigned long q0 = qcl_nvfp4_q16_runs(), d0 = qcl_nvfp4_dq_blocks_runs();
            long b = compare_shape_items(&p, &shapes[k], in);
            unsigned long qr = qcl_nvfp4_q16_runs() - q0, dr = qcl_nvfp4_dq_blocks_runs() - d0;
            unsigned long want_q = shapes[k].dt != QK_DTYPE_F32 && shapes[k].cols % 8 == 0;
            unsigned long want_d = shapes[k].cols % 8 == 0;
            if (kind == 0 && shapes[k].rows > 2) { /* one NaN, then one Inf: the call fails */
                uint32_t sp[2] = {0x7FC00000u, 0xFF800000u};
                for (int j = 0; j < 2; j++) {
                    void *c = malloc((size_t)n * 4);
                    memcpy(c, in, (size_t)n * 4);
                    qk_store_f32(shapes[k].dt, c, n / 2 + j, sp[j]);
                    b += compare_all(&p, shapes[k].dt, c, shapes[k].rows, shapes[k].cols);
                    free(c);
                }
            }
            printf("nvfp4 %s %lld x %lld values %d%s: %ld differing cases, %lu nvfp4_quantize16, %lu "
                   "nvfp4_dequantize_blocks launches\n",
                   qk_dtype_name(shapes[k].dt), (long long)shapes[k].rows, (long long)shapes[k].cols, kind,
                   shapes[k].few ? ", 768 work-items" : "", b, qr, dr);
            bad += b;
            assert_int_equal(qr != 0, want_q);
            assert_int_equal(dr != 0, want_d);
            free(in);
        }
    assert_int_equal(bad, 0);
}

/* The grid-stride kernels with one work-group (QK_OPENCL_GRID_ITEMS=256):
 * every work-item runs many steps, the last one partial. NF4/FP4 in blocks
 * of 64 (bnb4_quantize64, a partial last block too; bnb4_dequantize's
 * pairs of words and its tail) and MXFP8 (mxfp8_quantize16, which loads
 * each next block a step ahead), bf16, f16 and f32. */
static void test_grid_stride_rounds(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const qk_format formats[] = {QK_FORMAT_NF4, QK_FORMAT_FP4, QK_FORMAT_MXFP8};
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16, QK_DTYPE_F32};
    setenv("QK_OPENCL_GRID_ITEMS", "256", 1);
    long bad = 0;
    for (size_t f = 0; f < 3; f++)
        for (size_t d = 0; d < 3; d++) {
            qk_params p;
            qk_params_default(formats[f], &p);
            const int64_t rows = 113, cols = formats[f] == QK_FORMAT_MXFP8 ? 1032 : 1001;
            void *in = malloc((size_t)(rows * cols) * 4);
            fill(dts[d], in, rows * cols, 7 + f * 2 + d);
            long b = compare_all(&p, dts[d], in, rows, cols);
            printf("%s %s %lld x %lld, 256 work-items: %ld differing cases\n", qk_format_name(formats[f]),
                   qk_dtype_name(dts[d]), (long long)rows, (long long)cols, b);
            bad += b;
            free(in);
        }
    unsetenv("QK_OPENCL_GRID_ITEMS");
    assert_int_equal(bad, 0);
}

/* NF4/FP4 of f32 in blocks of 64 (bnb4_quantize64_f32, a work-item a
 * block; _f32_rec for double quant), against the reference. Block kinds,
 * cycling through the tensor (so both plain and exact blocks fall in every
 * step of the grid-stride loop): random values (plain); a NaN, and an Inf
 * and -Inf, among them; all NaN; an absmax of 2^20 beside normal elements
 * of 2^-100 .. 2^-110, whose products underflow below 2^-126 (mul_ftz
 * flushes them, FP4 would code a tiny negative product's sign); blocks of
 * only such values (normal products: plain); subnormal elements beside an
 * absmax of FLT_MIN (mul_ftz flushes them, their native products would
 * be about 1/2: a plain path that skipped its test fails here); all
 * zeros, signed; only subnormals (absmax 0); an absmax near FLT_MAX (r
 * flushes to 0) and one of 2^126 (r = 2^-126); an absmax of 1 beside
 * elements at the plain test's bound (2^-125) and below it. The partial
 * last block ends in NaN (all-NaN: absmax from its +0 padding) or in
 * values. Run with the whole grid and with 256 work-items (four steps),
 * in one call and in chunks of 156 blocks (test_chunked_bit_exact runs
 * one-block chunks), with and without double quant,
 * for the program of this device, the GPU's (finite check, specialised),
 * the full guard and soft float. */
static void bnb64_f32_edge_values(uint32_t *x, int64_t n, int nan_tail)
{
    uint64_t s = 0xB64F32u + (uint64_t)nan_tail;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i % 64, blk = i / 64;
        float sg = (rng(&s) % 3 == 0) ? -1.0f : 1.0f;
        float v = (float)((int64_t)(rng(&s) % 20001) - 10000) / 7919.0f;
        switch (blk % 13) {
        case 1: if (k == 9) v = NAN; break;
        case 2: if (k == 3) v = INFINITY; if (k == 40) v = -INFINITY; break;
        case 3: v = NAN; break;
        case 4: v = k == 5 ? 0x1p20f : sg * ldexpf(1.0f + (float)(k % 7) / 8.0f, -100 - (int)(k % 11)); break;
        case 5: v = sg * ldexpf(1.0f + (float)(k % 7) / 8.0f, -100 - (int)(k % 11)); break;
        case 6: v = k == 17 ? 0x1p-126f : sg * ldexpf(1.0f, -127 - (int)(k % 3)); break;
        case 7: v = sg * 0.0f; break;
        case 8: v = sg * ldexpf((float)(1 + k), -140); break;
        case 9: v = k == 0 ? 3.0e38f : v * 1.0e37f; break;
        case 10: v = k == 63 ? 0x1p126f : v; break;
        case 11: v = k == 1 ? 1.0f : k % 4 == 0 ? sg * 0x1p-125f : k % 4 == 1 ? sg * 0x1.8p-126f : v / 4.0f; break;
        case 12: v = k == 2 ? -0x1p-30f : sg * ldexpf(1.0f, -60 - (int)(k % 70)); break;
        default: break;
        }
        if (nan_tail && i >= n / 64 * 64)
            v = NAN;
        memcpy(&x[i], &v, 4);
    }
}

static void test_bnb4_q64_f32(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const struct {
        const char *guard, *spec, *soft, *what;
    } progs[] = {{NULL, NULL, NULL, "this device's program"},
                 {"finite", "1", NULL, "GPU program (finite check, specialised)"},
                 {"1", NULL, NULL, "full guard"},
                 {NULL, NULL, "1", "soft float"}};
    const int64_t rows = 83, cols = 778; /* 1008 whole blocks and 62 elements */
    uint32_t *in = malloc((size_t)(rows * cols) * 4);
    long bad = 0;
    unsigned long runs0 = qcl_bnb4_q64_f32_runs(), calls = 0;
    for (size_t pg = 0; pg < sizeof progs / sizeof *progs; pg++) {
        if (progs[pg].guard)
            setenv("QK_OPENCL_NATIVE_GUARD", progs[pg].guard, 1);
        if (progs[pg].spec)
            setenv("QK_OPENCL_SPECIALISE", progs[pg].spec, 1);
        if (progs[pg].soft)
            setenv("QK_OPENCL_SOFTFLOAT", progs[pg].soft, 1);
        for (int f = 0; f < 2; f++)
            for (int dq = 0; dq < 2; dq++)
                for (int run = 0; run < 3; run++) { /* whole grid, 256 work-items, chunks */
                    qk_params p;
                    qk_params_default(f ? QK_FORMAT_FP4 : QK_FORMAT_NF4, &p);
                    p.block_size = 64;
                    p.double_quant = dq;
                    if (run == 1) /* four grid-stride steps */
                        setenv("QK_OPENCL_GRID_ITEMS", "256", 1);
                    if (run == 2)
                        setenv("QK_OPENCL_CHUNK_BYTES", "40000", 1); /* 156 blocks a chunk */
                    bnb64_f32_edge_values(in, rows * cols, (f + dq + run) & 1);
                    long b = compare_all(&p, QK_DTYPE_F32, in, rows, cols);
                    unsetenv("QK_OPENCL_GRID_ITEMS");
                    unsetenv("QK_OPENCL_CHUNK_BYTES");
                    printf("%s%s f32 %lld x %lld, %s, %s: %ld differing cases\n", f ? "fp4" : "nf4", dq ? ":dq" : "",
                           (long long)rows, (long long)cols,
                           run == 0 ? "whole grid" : run == 1 ? "256 work-items" : "chunks of 156 blocks",
                           progs[pg].what, b);
                    bad += b;
                    calls++;
                }
        unsetenv("QK_OPENCL_NATIVE_GUARD");
        unsetenv("QK_OPENCL_SPECIALISE");
        unsetenv("QK_OPENCL_SOFTFLOAT");
    }
    free(in);
    unsigned long runs = qcl_bnb4_q64_f32_runs() - runs0;
    printf("bnb4_quantize64_f32: %lu launches for %lu calls\n", runs, calls);
    assert_int_equal(bad, 0);
    assert_true(runs >= calls * (unsigned long)nd); /* one a call, one a chunk when chunked */
}

/* Double quant of bf16/f16/f32 in blocks of 64: bnb4_quantize64_rec (f32:
 * bnb4_quantize64_f32_rec) makes the
 * mean's records as it writes the absmax, one a work-group (bnb_rec_merge).
 * With one work-group (QK_OPENCL_GRID_ITEMS=256: every work-item merges
 * many blocks, whose exponents step down and up, so its base moves) and
 * with the whole grid, partial last block included: absmax over 13 binades
 * prove the device's mean (no host sum). The crafted bf16 means take the
 * host's sum in 3 of 7 cases (an Inf, a NaN block: no proof; the
 * order-sensitive total, 2^53 + 2); the sixty binades are proven in bf16
 * (the ordinary weights of about 8 set the lowest bit at 2^-5). */
static void test_fused_mean_records(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const qk_format formats[] = {QK_FORMAT_NF4, QK_FORMAT_FP4};
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16, QK_DTYPE_F32};
    const int64_t rows = 113, cols = 1001;
    long bad = 0;
    unsigned long runs0 = qcl_bnb4_q64_rec_runs(), fb0 = qcl_mean_fallbacks(), f32_0 = qcl_bnb4_q64_f32_runs();
    for (int grid = 0; grid < 2; grid++) {
        if (grid == 0)
            setenv("QK_OPENCL_GRID_ITEMS", "256", 1);
        for (size_t f = 0; f < 2; f++)
            for (size_t d = 0; d < 3; d++) {
                qk_params p;
                qk_params_default(formats[f], &p);
                p.double_quant = 1;
                void *in = malloc((size_t)(rows * cols) * 4);
                uint64_t sd = 31 + f * 2 + d;
                for (int64_t i = 0; i < rows * cols; i++) {
                    float v = (float)((int64_t)(rng(&sd) % 20001) - 10000) / 7919.0f;
                    v = ldexpf(v, -(int)((i / 64) % 13)); /* the block's binade */
                    qk_store_f32(dts[d], in, i, qk_bits(v));
                }
                long b = compare_all(&p, dts[d], in, rows, cols);
                printf("%s:dq %s %lld x %lld, %s: %ld differing cases\n", qk_format_name(formats[f]),
                       qk_dtype_name(dts[d]), (long long)rows, (long long)cols,
                       grid == 0 ? "256 work-items" : "whole grid", b);
                bad += b;
                free(in);
            }
        unsetenv("QK_OPENCL_GRID_ITEMS");
    }
    unsigned long runs = qcl_bnb4_q64_rec_runs() - runs0, fb = qcl_mean_fallbacks() - fb0;
    unsigned long f32 = qcl_bnb4_q64_f32_runs() - f32_0;
    printf("fused records: %lu quantize runs (%lu of f32), %lu host means\n", runs, f32, fb);
    assert_int_equal(bad, 0);
    assert_int_equal(runs, 12 * (unsigned long)nd);
    assert_int_equal(f32, 4 * (unsigned long)nd);
    assert_int_equal(fb, 0);
    assert_int_equal(means_on_devices(nd, qkc_crafted_means16, "7 bf16 means", 3), 0);
}

/* The codes by products (scaled_groups16.cl: fp8_code_product with a
 * multiplier, int8_code_rcp with a divisor's reciprocal) against
 * scaled_code for 16-bit multiplier/divisor and input pairs: every pair on
 * GPUs; on CPU devices (2^32 soft-checked pairs take too long there) every
 * 4099th, and every pair whose float8 multiplier takes a rule of
 * product_factor beyond [2^-126, 2^100): T's Inf (the stand-in 2^64) and
 * bf16's 2^100 and up, every pair of the 63 smallest divisors (f16's
 * int8 groups with m / d up to 190 keep both clamps); for bf16 float8's significand table
 * (sig_codes8), every pair of the 16 smallest normal multipliers and of
 * the 16 largest below 2^100, and 2^20 pairs stepping through every
 * multiplier (a stride of 2^16 + 3). */
static void test_product_codes(void **st)
{
    (void)st;
    const qcl_device *d;
    int nd = opencl_devices(&d);
    long bad = 0;
    for (int i = 0; i < nd; i++)
        for (int dt = QK_DTYPE_F16; dt <= QK_DTYPE_BF16; dt++) {
            uint32_t inf16 = dt == QK_DTYPE_BF16 ? 0x7F80u : 0x7C00u;
            const struct {
                uint32_t w0, stride;
                uint64_t pairs;
                const char *what;
            } runs[] = {
                {0u, 1u, 0u, "all 2^32 pairs"},
                {0u, 4099u, 0u, "every 4099th of 2^32 pairs"},
                {inf16 << 16, 1u, 1u << 16, "every pair of multiplier Inf"},
                /* int8: f16 groups whose subnormal divisor keep both clamps */
                {1u << 16, 1u, 63u << 16, "every pair of divisor 1 to 63 (patterns)"},
                {0x7180u << 16, 1u, (uint64_t)(0x7F80u - 0x7180u) << 16, "every pair of multiplier 2^100 and up"},
                /* bf16 float8's significand table: the ends of its range and
                 * multipliers of every exponent */
                {0x0080u << 16, 1u, 1u << 20, "every pair of the 16 smallest normal multipliers"},
                {0x7170u << 16, 1u, 1u << 20, "every pair of the 16 largest multipliers below 2^100"},
                {0x3F80u << 16, 0x10003u, 1u << 20, "every 65539th pair (all exponents and significands of the multiplier)"},
            };
            for (int k = d[i].host_cpu ? 1 : 0; k < (d[i].host_cpu ? (dt == QK_DTYPE_BF16 ? 8 : 4) : 1); k++) {
                uint32_t first;
                uint64_t fails;
                int int8_divides;
                assert_int_equal(qcl_product_codes_check(i, dt, runs[k].w0, runs[k].stride, runs[k].pairs, &fails,
                                                         &first, &int8_divides),
                                 QK_OK);
                printf("%s: %s codes by products (%s), %s: %llu differ (first %08x)\n", d[i].name,
                       qk_dtype_name((qk_dtype)dt),
                       int8_divides ? "float8; int8 divides, no native IEEE f32" : "float8 and int8", runs[k].what,
                       (unsigned long long)fails, fails ? first : 0u);
                bad += fails != 0;
            }
        }
    assert_int_equal(bad, 0);
}

/* scaled.cl's f32 int8 codes by one product (int8_code_f32_bounded: ConvRot
 * rows, row and tile groups, tensors), against scaled_code's division with
 * either format's clamps, on every device whose program is native IEEE
 * f32: crafted quotients on both sides of the 2^-13 margin around every
 * halfway point in [-126.5, 126.5] (what a group can hold), integers,
 * random values, eight divisors from 2^-126 to below 2^126
 * (f32_codes_check). 2^24 values on a
 * GPU, 2^22 on a CPU device. Values flagged near must stay a small part
 * (they are divided, which costs time) and must occur (else the margin
 * was never reached). */
static void test_f32_codes_by_product(void **st)
{
    (void)st;
    const qcl_device *d;
    int nd = opencl_devices(&d);
    long bad = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t count = d[i].host_cpu ? (uint64_t)1 << 22 : (uint64_t)1 << 24, fails, near;
        uint32_t first;
        int divides;
        assert_int_equal(qcl_f32_codes_check(i, 0u, count, &fails, &first, &near, &divides), QK_OK);
        if (divides) {
            printf("%s: f32 int8 codes: the program divides (no native IEEE f32), nothing to check\n", d[i].name);
            continue;
        }
        printf("%s: f32 int8 codes by products, %llu crafted values: %llu differ (first id %u), %llu near a halfway "
               "point (divided)\n",
               d[i].name, (unsigned long long)count, (unsigned long long)fails, fails ? first : 0u,
               (unsigned long long)near);
        bad += fails != 0;
        assert_true(near > 0 && near < count / 4);
    }
    assert_int_equal(bad, 0);
}

/* int8_scalars16 (int8_scalars.cl: RN(m / 127) by Markstein's correction,
 * RN(1/d) by Newton steps) against scaled_params and int8_reciprocal's
 * qk_div on every device, for every finite positive bf16 and f16 amax. A
 * device whose program divides by qk_div has nothing to check and says
 * so. */
static void test_int8_scalars(void **st)
{
    (void)st;
    const qcl_device *d;
    int nd = opencl_devices(&d);
    long bad = 0;
    for (int i = 0; i < nd; i++)
        for (int dt = QK_DTYPE_F16; dt <= QK_DTYPE_BF16; dt++) {
            uint32_t fails, first;
            int divides;
            assert_int_equal(qcl_int8_scalars_check(i, dt, &fails, &first, &divides), QK_OK);
            if (divides)
                printf("%s: %s int8 scalars: the program divides by qk_div (no native IEEE f32), nothing to check\n",
                       d[i].name, qk_dtype_name((qk_dtype)dt));
            else
                printf("%s: %s int8 scalars of every finite amax: %u differ (first %04x)\n", d[i].name,
                       qk_dtype_name((qk_dtype)dt), fails, fails ? first : 0u);
            bad += fails != 0;
        }
    assert_int_equal(bad, 0);
}

/* float8 and int8 row and tile groups of every input dtype in one pass
 * (scaled_groups16.cl, scaled_groups32.cl): 64 work-items (up to 4096
 * elements) and 256 (up to 16384), edge tiles, rows whose magnitudes span
 * the dtype (so the multipliers and divisors do: f32 float8 rows of tiny
 * amax have no product factor; random f32 elements put some int8 quotients
 * near a halfway point, which scaled_groups32.cl codes again exactly), zero
 * rows (f16 blockwise: a zero divisor; float8: an infinite multiplier) and
 * a NaN row; with few work-groups, many steps each. Groups wider than 16384
 * or not whole vectors take scaled_quantize_groups. f32 groups without a
 * factor (programs without IEEE products) run in
 * test_guarded_native_kernels_bit_exact. */
static void test_groups16(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const struct {
        qk_format f;
        qk_dtype dt;
        int64_t rows, cols;
        int block, few, want;
    } cases[] = {
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_BF16, 64, 4096, 0, 0, 1},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_F16, 37, 1000, 0, 1, 1},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_BF16, 9, 4104, 0, 1, 1},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_F16, 3, 16392, 0, 0, 0},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_BF16, 5, 1001, 0, 0, 0},
        {QK_FORMAT_INT8_BLOCKWISE, QK_DTYPE_BF16, 300, 264, 128, 0, 1},
        {QK_FORMAT_INT8_BLOCKWISE, QK_DTYPE_F16, 130, 200, 128, 1, 1},
        {QK_FORMAT_INT8_BLOCKWISE, QK_DTYPE_F16, 70, 96, 24, 1, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_BF16, 50, 2048, 0, 1, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_F16, 40, 4096, 0, 0, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_BF16, 7, 8200, 0, 1, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_F16, 260, 136, 64, 0, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_BF16, 200, 264, 128, 1, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_BF16, 5, 1001, 0, 0, 0},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_F32, 64, 4096, 0, 0, 1},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_F32, 37, 1000, 0, 1, 1},
        {QK_FORMAT_INT8_TENSORWISE, QK_DTYPE_F32, 3, 16392, 0, 0, 0},
        {QK_FORMAT_INT8_BLOCKWISE, QK_DTYPE_F32, 300, 264, 128, 0, 1},
        {QK_FORMAT_INT8_BLOCKWISE, QK_DTYPE_F32, 70, 96, 24, 1, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_F32, 8, 1024, 0, 0, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_F32, 37, 1000, 0, 1, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_F32, 9, 4104, 0, 1, 1},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_DTYPE_F32, 300, 264, 128, 0, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_F32, 130, 200, 128, 1, 1},
        {QK_FORMAT_FLOAT8_E5M2, QK_DTYPE_F32, 3, 16392, 0, 0, 0},
    };
    long bad = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int nan = 0; nan < 2; nan++) {
            qk_params p;
            qk_params_default(cases[k].f, &p);
            p.scaling = cases[k].block ? QK_SCALING_BLOCK : QK_SCALING_ROW;
            if (cases[k].block)
                p.block_size = cases[k].block;
            int64_t rows = cases[k].rows, cols = cases[k].cols, n = rows * cols;
            void *in = malloc((size_t)n * 4);
            fill(cases[k].dt, in, n, 300 + k);
            int bf = cases[k].dt != QK_DTYPE_F16;
            for (int64_t i = 0; i < n; i++) { /* row r scaled by 2^e(r); every 11th row zero */
                int64_t r = i / cols;
                int e = bf ? (int)(r * 37 % 250) - 130 : (int)(r * 7 % 26) - 14;
                float v = qk_float(qk_load_f32(cases[k].dt, in, i));
                qk_store_f32(cases[k].dt, in, i, qk_bits(r % 11 == 10 ? 0.0f * v : ldexpf(v, e)));
            }
            if (nan)
                qk_store_f32(cases[k].dt, in, n / 2 + 3, 0x7FC00000u);
            if (cases[k].few)
                setenv("QK_OPENCL_GRID_ITEMS", "512", 1);
            unsigned long before = qcl_groups16_runs();
            long b = compare_all(&p, cases[k].dt, in, rows, cols);
            unsigned long runs = qcl_groups16_runs() - before;
            unsetenv("QK_OPENCL_GRID_ITEMS");
            printf("%s %s %lld x %lld, %s of %d%s%s: %ld differing cases, %lu scaled_quantize_groups16/32 launches\n",
                   qk_format_name(cases[k].f), qk_dtype_name(cases[k].dt), (long long)rows, (long long)cols,
                   cases[k].block ? "tiles" : "rows", cases[k].block ? cases[k].block : (int)cols,
                   cases[k].few ? ", 512 work-items" : "", nan ? ", a NaN" : "", b, runs);
            bad += b;
            if (!nan)
                assert_int_equal(runs != 0, cases[k].want);
            free(in);
        }
    assert_int_equal(bad, 0);
}

/* ConvRot int8 rows a work-group per row (convrot_rows.cl): every group
 * size, f32/f16/bf16, rows of 16 to 4096 columns (narrow rows take small
 * work-groups), rows past 4096 columns or not whole 16-column units on
 * convrot.cl, 512 work-items for many row steps (the two alternating
 * local buffers), rows scaled far apart (subnormal and huge sums, zero
 * rows), and a row with a NaN, an Inf or sums that overflow, which must
 * fail the op as on the CPU. */
static void test_convrot_rows(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    static const struct {
        int group;
        int64_t rows, cols;
        int want;
    } cases[] = {{4, 9, 16, 1}, {4, 5, 20, 0}, {16, 7, 48, 1}, {64, 33, 320, 1}, {64, 6, 64, 1}, {256, 12, 4096, 1},
                 {256, 40, 768, 1}, {1024, 9, 1024, 1}, {1024, 6, 4096, 1}, {1024, 2, 8192, 0}, {16, 3, 4112, 0}};
    static const char *const specials[] = {"", ", a NaN", ", an Inf", ", T's largest values"};
    long bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int dt = 0; dt < 3; dt++)
            for (int sp = 0; sp < 4; sp = sp == 0 ? 1 + (int)(c + (size_t)dt) % 3 : 4) { /* plain, then one special */
                qk_params p;
                qk_params_default(QK_FORMAT_INT8_TENSORWISE, &p);
                p.scaling = QK_SCALING_ROW;
                p.convrot_group = cases[c].group;
                int64_t rows = cases[c].rows, cols = cases[c].cols, n = rows * cols;
                void *in = malloc((size_t)n * 4);
                fill((qk_dtype)dt, in, n, 700 + c * 3 + (size_t)dt);
                int bf = dt != QK_DTYPE_F16;
                for (int64_t i = 0; i < n; i++) { /* row r scaled by 2^e(r); every 5th row zero */
                    int64_t r = i / cols;
                    int e = bf ? (int)(r * 53 % 250) - 135 : (int)(r * 7 % 28) - 16;
                    float v = qk_float(qk_load_f32((qk_dtype)dt, in, i));
                    qk_store_f32((qk_dtype)dt, in, i, qk_bits(r % 5 == 4 ? 0.0f * v : ldexpf(v, e)));
                }
                int64_t at = n - cols / 2 - 1; /* the last row */
                if (sp == 1 || sp == 2)
                    qk_store_f32((qk_dtype)dt, in, at, sp == 1 ? 0x7FC00000u : 0xFF800000u);
                if (sp == 3) /* T's largest value, four times: f32 and bf16 sums overflow */
                    for (int k = 0; k < 4; k++)
                        qk_store_f32((qk_dtype)dt, in, at - at % 4 + k,
                                     dt == QK_DTYPE_F32 ? 0x7F7FFFFFu : bf ? 0x7F7F0000u : 0x477FE000u);
                setenv("QK_OPENCL_GRID_ITEMS", "512", 1);
                unsigned long before = qcl_convrot_rows_runs();
                long b = compare_all(&p, (qk_dtype)dt, in, rows, cols);
                unsigned long runs = qcl_convrot_rows_runs() - before;
                unsetenv("QK_OPENCL_GRID_ITEMS");
                if (b != 0 || sp == 0)
                    printf("convrot %d %s %lld x %lld%s: %ld differing cases, %lu convrot_rows launches\n",
                           cases[c].group, qk_dtype_name((qk_dtype)dt), (long long)rows, (long long)cols,
                           specials[sp], b, runs);
                bad += b;
                assert_int_equal(runs != 0, cases[c].want && cols <= 4096 && cols % 16 == 0);
                free(in);
            }
    printf("convrot rows: %ld differing cases\n", bad);
    assert_int_equal(bad, 0);
}

/* Host ops in the smallest chunks the formats allow (one row, or one
 * 128-row band, tile row or bitsandbytes block, on two alternating queues):
 * every format x dtype must give the bytes of the unchunked reference, and
 * non-finite inputs the same status. */
static void test_chunked_bit_exact(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_CHUNK_BYTES", "1", 1);
    qkc_options opt = {0, 0, "opencl"};
    long total = qkc_run(&opt, print_bad_row, NULL);
    long odd = odd_shapes_bad();
    long nonfinite = nonfinite_bad();
    unsetenv("QK_OPENCL_CHUNK_BYTES");
    assert_int_equal(total, 0);
    assert_int_equal(odd, 0);
    assert_int_equal(nonfinite, 0);
}

/* bitsandbytes formats code NaN and Inf (and an all-NaN block); the others
 * refuse them with QK_ERR_NONFINITE, like the CPU. */
static long nonfinite_bad(void)
{
    int64_t rows = 4, cols = 256;
    long bad = 0;
    const uint32_t specials[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u, 0xFFC00001u};
    for (int f = 0; f < QK_FORMAT_COUNT; f++)
        for (int dt = 0; dt < 3; dt++)
            for (int sp = 0; sp < 4; sp++) {
                _Alignas(4) uint8_t in[4 * 256 * 4]; /* f32, f16 or bf16 */
                fill((qk_dtype)dt, in, rows * cols, (uint64_t)(f * 11 + dt));
                qk_store_f32((qk_dtype)dt, in, 37 + sp * 100, specials[sp]);
                for (int i = 512; i < 576; i++) /* a block of only NaN */
                    qk_store_f32((qk_dtype)dt, in, i, 0x7FC00000u);
                qk_params p;
                qk_params_default((qk_format)f, &p);
                p.scaling = (f >= QK_FORMAT_FLOAT8_E4M3FN && f <= QK_FORMAT_INT8_TENSORWISE) ? (qk_scaling)(sp % 2)
                                                                                          : p.scaling;
                bad += compare_all(&p, (qk_dtype)dt, in, rows, cols);
            }
    return bad;
}

static void test_nonfinite_inputs(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(nonfinite_bad(), 0);
}

/* A crafted-case harness (src/check/nested_cases.c) on every device, in
 * one chunk and in chunks of `chunk_bytes`: the cases that differ. */
static long on_every_device(long (*harness)(qk_context *, const char *), const char *chunk_bytes, int nd)
{
    long bad = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        if (chunked)
            setenv("QK_OPENCL_CHUNK_BYTES", chunk_bytes, 1);
        for (int d = 0; d < nd; d++) {
            qk_context *ctx;
            assert_int_equal(qk_context_create("opencl", d, &ctx), QK_OK);
            bad += harness(ctx, chunked ? "opencl (chunked)" : "opencl");
            qk_context_destroy(ctx);
        }
        unsetenv("QK_OPENCL_CHUNK_BYTES");
    }
    return bad;
}

/* on_every_device with the GPU program: specialised kernels, native f32
 * guarded by finiteness. */
static long on_every_device_gpu_program(long (*harness)(qk_context *, const char *), const char *chunk_bytes, int nd)
{
    setenv("QK_OPENCL_NATIVE_GUARD", "finite", 1);
    setenv("QK_OPENCL_SPECIALISE", "1", 1);
    long bad = on_every_device(harness, chunk_bytes, nd);
    unsetenv("QK_OPENCL_NATIVE_GUARD");
    unsetenv("QK_OPENCL_SPECIALISE");
    return bad;
}

/* Double-quant parts a caller crafted, in one chunk and in one-block chunks. */
static void test_crafted_nested_parts(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(on_every_device(qkc_crafted_nested, "1", nd), 0);
}

/* Double quant's offset: the device's exact records or the host's
 * sequential sum, in one chunk and in chunks of 1000 blocks (records of runs
 * that start mid-chunk). */
static void test_crafted_means(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(on_every_device(qkc_crafted_means, "256000", nd), 0);
}

static long every_magnitude16_on_devices(int nd) { return on_every_device(qkc_every_magnitude16, "4096", nd); }

/* A crafted dequantize harness on every device (on_every_device), then
 * again with the GPU program (the native guard and specialised kernels)
 * where the probe passes. */
static void crafted_dequantize_on_devices(long (*harness)(qk_context *, const char *))
{
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(on_every_device(harness, "1", nd), 0);
    assert_int_equal(on_every_device_gpu_program(harness, "5000", nd), 0);
}

/* NF4/FP4 dequantize of crafted absmax (f16 outputs subnormal, normal,
 * past f16's range, ties) against the reference, in one chunk and in
 * one-block chunks; the GPU program too. */
static void test_crafted_bnb4_dequantize(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_crafted_bnb4_dequantize);
}

/* mxfp8/nvfp4 dequantize's fast and exact paths against the reference, in
 * one chunk and in 128-row bands; the GPU program too. */
static void test_crafted_blocked_dequantize(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_crafted_blocked_dequantize);
}

/* NVFP4 dequantize (nvfp4_dequantize_blocks for rows of whole vectors):
 * every scale byte with every code under g through every binade and the
 * special g (Inf and NaN block scales take its exact loop); the GPU
 * program too. */
static void test_nvfp4_every_scale_code(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_nvfp4_every_scale_code);
}

/* The walking kernel's fast and exact paths against the reference, in one
 * chunk and in one-tile-row chunks; the GPU program too where the probe
 * passes. */
static void test_crafted_group_dequantize(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_crafted_group_dequantize);
}

/* ConvRot quantize of the shared crafted inputs (src/check/convrot_cases.c):
 * every G and dtype, zero, subnormal, outlier and wide-ranging rows, and the
 * NaN, Inf and rotation-overflow inputs both must refuse; in one chunk and
 * in small ones; the GPU program too. */
static void test_convrot_quantize_cases(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_convrot_quantize_cases);
}

/* f32 int8 and float8 codes near rounding ties
 * (src/check/f32_tie_cases.c), in one chunk and in small ones; the GPU
 * program too. */
static void test_f32_near_ties(void **st)
{
    (void)st;
    crafted_dequantize_on_devices(qkc_f32_near_ties);
}

/* ConvRot's f16 output by the integer narrowing (QK_OPENCL_HALF_STORES=0;
 * by default native-arithmetic programs store its f16 vectors by
 * vstorea_half8_rte, which the tests above run), in one chunk and in small
 * ones. The other dequantize kernels narrow by integer code either way. */
static void test_f16_integer_narrowing(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_HALF_STORES", "0", 1);
    long bad = on_every_device(qkc_crafted_convrot_dequantize, "1", nd);
    unsetenv("QK_OPENCL_HALF_STORES");
    assert_int_equal(bad, 0);
}

/* qkc_crafted_convrot_dequantize on every device with the generic
 * program, in one chunk and in one-row chunks: with the full grid, then
 * with QK_OPENCL_GRID_ITEMS = few. */
static long crafted_convrot_generic(int nd, const char *few)
{
    long bad = on_every_device(qkc_crafted_convrot_dequantize, "1", nd);
    setenv("QK_OPENCL_GRID_ITEMS", few, 1);
    bad += on_every_device(qkc_crafted_convrot_dequantize, "1", nd);
    unsetenv("QK_OPENCL_GRID_ITEMS");
    return bad;
}

/* The same with the GPU program and QK_OPENCL_GRID_ITEMS = items. */
static long crafted_convrot_gpu(int nd, const char *items)
{
    setenv("QK_OPENCL_GRID_ITEMS", items, 1);
    long bad = on_every_device_gpu_program(qkc_crafted_convrot_dequantize, "20000", nd);
    unsetenv("QK_OPENCL_GRID_ITEMS");
    return bad;
}

/* ConvRot dequantize in one pass (convrot_dequantize_runs.cl, chunks whose
 * rows all have scales in its native range; convrot_rows.cl or
 * convrot.cl take the others) on crafted parts
 * (qkc_crafted_convrot_dequantize), in one chunk and in one-row chunks,
 * with the full grid and with one work-group of 64 (every span a
 * grid-stride step: 16 x 4096 values take 16 steps); then the GPU
 * program. The kernel must have run. */
static void test_convrot_dequantize_runs(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    unsigned long before = qcl_convrot_dq_runs();
    long bad = crafted_convrot_generic(nd, "64");
    unsigned long runs = qcl_convrot_dq_runs() - before;
    long gpu = crafted_convrot_gpu(nd, "128");
    printf("convrot dequantize runs: %ld differing cases, %lu convrot_dequantize_runs launches\n", bad + gpu, runs);
    assert_int_equal(bad, 0);
    assert_int_equal(gpu, 0);
    assert_true(runs >= 2u * (unsigned long)nd * 3u * 25u); /* one-row chunks of 25 eligible shapes */
}

/* ConvRot dequantize of crafted parts (qkc_crafted_convrot_dequantize:
 * every G and dtype, every code byte, row scales on either side of the
 * native ranges, zero, subnormal, huge, Inf and NaN) with
 * convrot_dequantize_runs.cl left out: chunks whose rows all have native
 * scales take convrot_rows.cl, the others convrot.cl's exact kernel. In
 * one chunk and in one-row chunks (every row with a native scale then
 * takes convrot_rows.cl), with the full grid and with a single
 * work-group walking every row; then the GPU program. */
static void test_crafted_convrot_dequantize(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_CONVROT_RUNS", "0", 1); /* not convrot_dequantize_runs.cl */
    unsigned long before = qcl_convrot_rows_runs();
    long bad = crafted_convrot_generic(nd, "1");
    unsigned long runs = qcl_convrot_rows_runs() - before;
    long gpu = crafted_convrot_gpu(nd, "1");
    unsetenv("QK_OPENCL_CONVROT_RUNS");
    printf("crafted convrot dequantize: %ld differing cases, %lu convrot_rows launches\n", bad + gpu, runs);
    assert_int_equal(bad, 0);
    assert_int_equal(gpu, 0);
    assert_true(runs >= 2u * (unsigned long)nd * 3u * 21u); /* one-row chunks of 21 shapes within 4096 columns */
}

/* Tensor-scaled float8/int8 of every bf16 and f16 magnitude up to 1: the
 * 16-bit code table (scaled.cl) for every entry the scale reaches. */
static void test_every_magnitude16(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    assert_int_equal(every_magnitude16_on_devices(nd), 0);
}

/* The tensor amax (amax.cl: four units a step, then one) over a tensor
 * whose single peak moves through it, on grids of 256 work-items. */
static void test_tensor_amax_every_step(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    setenv("QK_OPENCL_GRID_ITEMS", "256", 1);
    long bad = on_every_device(qkc_tensor_amax_positions, "4096", nd);
    unsetenv("QK_OPENCL_GRID_ITEMS");
    assert_int_equal(bad, 0);
}

/* NF4 quantize on every device through its bucket table: blocks of 64
 * led by 1.0 (so r = 1 and each code sees the input itself), holding every
 * bf16 pattern of magnitude <= 1, and f32 values within 16 ulps of every
 * bucket edge and threshold, both signs. */
static void test_nf4_buckets_on_devices(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    enum { PER = 63 };
    static uint16_t h16[0x10000u / PER * 64 + 128];
    static uint32_t f32[(37 * 33 * 2) / PER * 64 + 128];
    int64_t n16 = 0, n32 = 0;
    uint32_t x16 = 0, fv[37 * 33 * 2];
    int nf = 0;
    for (uint32_t b = QK_NF4_BUCKET_BASE + 1u; b <= QK_NF4_BUCKET_BASE + 22u; b++)
        for (int d = -16; d <= 16; d++) {
            fv[nf++] = (b << 21) + (uint32_t)d;
            fv[nf++] = ((b << 21) + (uint32_t)d) ^ QK_F32_SIGN;
        }
    for (uint32_t k = 0; k < 15; k++)
        for (int d = -16; d <= 16; d++) {
            fv[nf++] = qk_nf4_threshold(k) + (uint32_t)d;
            fv[nf++] = (qk_nf4_threshold(k) + (uint32_t)d) ^ QK_F32_SIGN;
        }
    for (int i = 0; i < nf;) {
        f32[n32++] = QK_F32_ONE;
        for (int k = 0; k < PER; k++, i++) /* magnitudes above 1 would raise the absmax */
            f32[n32++] = i < nf && (fv[i] & QK_F32_ABS) <= QK_F32_ONE ? fv[i] : 0u;
    }
    while (x16 < 0x10000u) {
        h16[n16++] = 0x3F80u;
        for (int k = 0; k < PER; k++) {
            while (x16 < 0x10000u && (x16 & 0x7FFFu) > 0x3F80u)
                x16++;
            h16[n16++] = x16 < 0x10000u ? (uint16_t)x16++ : 0u;
        }
    }
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    p.block_size = 64;
    assert_int_equal(compare_all(&p, QK_DTYPE_BF16, h16, 1, n16), 0);
    assert_int_equal(compare_all(&p, QK_DTYPE_F32, f32, 1, n32), 0);
}

/* Tensor amax of bf16/f16 input on 16-bit magnitudes (amax.cl): the
 * largest magnitude, negative, at every position of a 45-element tensor
 * (both halves of every word of the 16-byte loads, and the tail), over
 * normal and subnormal values, and NaN/Inf there. Tensor-scaled int8 and
 * e4m3 scales are functions of the exact amax; the status must agree. */
static void test_tensor_amax16(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    enum { N = 45 };
    static const uint32_t peak[] = {0xC0400000u /* -3 */, 0x80000000u | 0x38500000u /* f16 subnormal */,
                                    0x7FC00000u, 0xFF800000u};
    long bad = 0, cases = 0;
    for (int d = 0; d < nd; d++) {
        qk_context *ctx;
        assert_int_equal(qk_context_create("opencl", d, &ctx), QK_OK);
        for (int dt = QK_DTYPE_F16; dt <= QK_DTYPE_BF16; dt++)
            for (int f = 0; f < 2; f++)
                for (size_t v = 0; v < sizeof peak / sizeof *peak; v++)
                    for (int pos = 0; pos < N; pos++) {
                        qk_params p;
                        qk_params_default(f ? QK_FORMAT_FLOAT8_E4M3FN : QK_FORMAT_INT8_TENSORWISE, &p);
                        p.scaling = QK_SCALING_TENSOR;
                        uint16_t in[N];
                        uint64_t s = (uint64_t)(pos * 7 + v * 131 + f * 3 + dt + 1);
                        for (int i = 0; i < N; i++) { /* below |peak|, both signs; +2.5 for the normal peak */
                            uint32_t small = v == 1 ? 0x38000000u + (uint32_t)(rng(&s) % 0x400000u)
                                                    : 0x3E000000u + (uint32_t)(rng(&s) % 0x2000000u);
                            qk_store_f32((qk_dtype)dt, in, i, small | (rng(&s) & 1 ? 0x80000000u : 0u));
                        }
                        if (v == 0)
                            qk_store_f32((qk_dtype)dt, in, (pos + 1) % N, 0x40200000u);
                        qk_store_f32((qk_dtype)dt, in, pos, peak[v]);
                        qk_layout lay;
                        assert_int_equal(qk_layout_query(&p, 1, N, &lay), QK_OK);
                        _Alignas(8) uint8_t want[2][48], got[2][48]; /* part 1 is an f32 scale */
                        void *wp[4] = {want[0], want[1], NULL, NULL}, *gp[4] = {got[0], got[1], NULL, NULL};
                        qk_status ws = qk_quantize(NULL, &p, (qk_dtype)dt, in, 1, N, wp);
                        qk_status gs = qk_quantize(ctx, &p, (qk_dtype)dt, in, 1, N, gp);
                        int ok = gs == ws && (ws != QK_OK || (memcmp(want[0], got[0], lay.part[0].nbytes) == 0 &&
                                                             memcmp(want[1], got[1], lay.part[1].nbytes) == 0));
                        if (!ok && bad++ < 5)
                            printf("  amax16 dev%d dt %d fmt %d peak %08x at %d: status %d/%d or bytes differ\n", d,
                                   dt, f, peak[v], pos, gs, ws);
                        cases += ws == QK_OK;
                    }
        qk_context_destroy(ctx);
    }
    assert_int_equal(bad, 0);
    assert_true(cases > 0);
}

static int count_cache_files(const char *dir, char *last, size_t n)
{
    DIR *d = opendir(dir);
    int c = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".bin") != NULL) {
            snprintf(last, n, "%s/%s", dir, e->d_name);
            c++;
        }
    closedir(d);
    return c;
}

static long quick_check(void)
{
    int64_t rows = 32, cols = 64;
    uint16_t in[32 * 64];
    fill(QK_DTYPE_BF16, in, rows * cols, 99);
    qk_params p;
    qk_params_default(QK_FORMAT_NVFP4, &p);
    return compare_all(&p, QK_DTYPE_BF16, in, rows, cols);
}

/* Compiles announced through qk_set_notice_handler: how many, and
 * whether the last one named the cache directory. */
struct notices {
    int count, named_dir;
    const char *dir;
};

static void count_notice(const char *message, void *user)
{
    struct notices *n = user;
    n->count++;
    n->named_dir = strstr(message, "compiling") != NULL && strstr(message, n->dir) != NULL;
}

/* The cache writes one file per build; a corrupt, truncated or foreign
 * file is ignored (the program is rebuilt from source); QK_OPENCL_CACHE=0
 * writes nothing. Every compile from source is announced (naming the
 * cache directory where there is one); a build from the cache is not. */
static void test_binary_cache_robust(void **st)
{
    (void)st;
    int nd;
    if (!have_opencl(&nd))
        skip();
    char root[] = "/tmp/qk-cl-cache-XXXXXX", dir[600], file[900] = "";
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/qk/opencl", root);
    struct notices seen = {0, 0, dir};
    qk_set_notice_handler(count_notice, &seen);
    setenv("XDG_CACHE_HOME", root, 1);
    setenv("QK_OPENCL_CACHE", "0", 1);
    assert_int_equal(quick_check(), 0);
    assert_int_equal(count_cache_files(dir, file, sizeof file), 0);
    assert_true(seen.count >= 1 && !seen.named_dir);
    unsetenv("QK_OPENCL_CACHE");
    seen.count = 0;
    assert_int_equal(quick_check(), 0);
    int files = count_cache_files(dir, file, sizeof file);
    assert_true(files >= 1 && files <= nd);
    assert_true(seen.count >= files && seen.named_dir);
    seen.count = 0;
    assert_int_equal(quick_check(), 0); /* from the cache */
    assert_int_equal(seen.count, 0);
    qk_set_notice_handler(NULL, NULL);
    /* corrupt the binary's middle, then truncate, then replace by a foreign one */
    FILE *f = fopen(file, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    for (int i = 0; i < 64; i++)
        fputc(0xFF ^ i, f);
    fclose(f);
    assert_int_equal(quick_check(), 0);
    assert_int_equal(truncate(file, size / 3), 0);
    assert_int_equal(quick_check(), 0);
    f = fopen(file, "wb");
    assert_non_null(f);
    fputs("QKCLBIN1 this is not a program binary", f);
    fclose(f);
    assert_int_equal(quick_check(), 0);
    unsetenv("XDG_CACHE_HOME");
}

int main(void)
{
    /* line by line, so that a driver that aborts the process (a kernel
     * compiler's assertion) leaves the rows printed before it */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soft_add_matches_host),
        cmocka_unit_test(test_fast_codec_equals_codec),
        cmocka_unit_test(test_fp8_special_words),
        cmocka_unit_test(test_mxfp8_code_equals_division),
        cmocka_unit_test(test_nf4_bucket_equals_codec),
        cmocka_unit_test(test_odd_shapes),
        cmocka_unit_test(test_mxfp8_quantize_vectors),
        cmocka_unit_test(test_nvfp4_fast_kernels),
        cmocka_unit_test(test_grid_stride_rounds),
        cmocka_unit_test(test_bnb4_q64_f32),
        cmocka_unit_test(test_product_codes),
        cmocka_unit_test(test_int8_scalars),
        cmocka_unit_test(test_f32_codes_by_product),
        cmocka_unit_test(test_groups16),
        cmocka_unit_test(test_convrot_rows),
        cmocka_unit_test(test_crafted_convrot_dequantize),
        cmocka_unit_test(test_convrot_dequantize_runs),
        cmocka_unit_test(test_chunked_bit_exact),
        cmocka_unit_test(test_nonfinite_inputs),
        cmocka_unit_test(test_crafted_nested_parts),
        cmocka_unit_test(test_crafted_means),
        cmocka_unit_test(test_device_means),
        cmocka_unit_test(test_fused_mean_records),
        cmocka_unit_test(test_crafted_group_dequantize),
        cmocka_unit_test(test_convrot_quantize_cases),
        cmocka_unit_test(test_f32_near_ties),
        cmocka_unit_test(test_f16_integer_narrowing),
        cmocka_unit_test(test_crafted_blocked_dequantize),
        cmocka_unit_test(test_crafted_bnb4_dequantize),
        cmocka_unit_test(test_nvfp4_every_scale_code),
        cmocka_unit_test(test_every_magnitude16),
        cmocka_unit_test(test_tensor_amax_every_step),
        cmocka_unit_test(test_tensor_amax16),
        cmocka_unit_test(test_nf4_buckets_on_devices),
        cmocka_unit_test(test_binary_cache_robust),
        cmocka_unit_test(test_soft_float_kernels_bit_exact),
        cmocka_unit_test(test_guarded_native_kernels_bit_exact),
        cmocka_unit_test(test_gpu_program_bit_exact),
        cmocka_unit_test(test_probe_tells_flushing_apart),
        cmocka_unit_test(test_probe_on_devices),
    };
    return run_tests_sharded("test_opencl", tests, sizeof tests / sizeof *tests);
}
