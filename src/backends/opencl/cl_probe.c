/* Does a device's native f32 arithmetic keep subnormals as IEEE-754 does?
 *
 * OpenCL lets a device flush subnormal operands and results of f32 mul,
 * add and div (and CL_DEVICE_SINGLE_FP_CONFIG is only its word). Where the
 * answer is yes the kernels may use the native result for all finite
 * operands (-DQK_NATIVE_FINITE, common.cl) instead of checking every
 * operand and result for subnormals (-DQK_NATIVE_GUARD). The probe runs
 * the device's own operations on operand pairs chosen to make subnormals
 * (subnormal operands; products, sums and quotients below, at and around
 * FLT_MIN; cancellations) and on wide random pairs, and compares every bit
 * with the host's IEEE results. Flushing is a mode of a device, not a
 * property of some values: one flushed result among these pairs shows it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/ref_internal.h"
#include "cl_internal.h"

extern const unsigned char qk_opencl_probe_source[];
extern const size_t qk_opencl_probe_source_size;

static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint32_t with_exp(uint32_t r, int e) { return (r & 0x807FFFFFu) | ((uint32_t)e << 23); }

void qcl_probe_pairs(uint32_t *a, uint32_t *b, int n)
{
    uint32_t s = 0x6C8E9CF5u;
    for (int i = 0; i < n; i++) {
        uint32_t r1 = next(&s), r2 = next(&s);
        switch (i % 6) {
        case 0: /* subnormal times, plus and over a normal */
            a[i] = r1 & 0x807FFFFFu;
            b[i] = with_exp(r2, 96 + (int)(r2 >> 24) % 64);
            break;
        case 1: { /* normal operands whose product is near FLT_MIN */
            int ea = 1 + (int)(r1 >> 24) % 126, eb = 127 - ea + (int)(r2 >> 27) - 24;
            a[i] = with_exp(r1, ea);
            b[i] = with_exp(r2, eb < 1 ? 1 : eb);
            break;
        }
        case 2: /* a in [1, 2) and b just around FLT_MIN / a: rounding to FLT_MIN */
            a[i] = with_exp(r1, 127) & 0x7FFFFFFFu;
            b[i] = qk_fdiv(0x00800000u, a[i]) + (r2 % 5u) - 2u;
            break;
        case 3: /* nearly equal values near FLT_MIN: a subnormal difference */
            a[i] = with_exp(r1, 1 + (int)(r1 >> 29)) & 0x7FFFFFFFu;
            b[i] = (a[i] + (r2 % 64u) - 32u) | 0x80000000u;
            break;
        case 4: /* subnormal operands only */
            a[i] = r1 & 0x807FFFFFu;
            b[i] = (r2 & 0x807FFFFFu) | 1u;
            break;
        default: /* anything finite */
            a[i] = with_exp(r1, (int)(r1 >> 24) % 255);
            b[i] = with_exp(r2, (int)(r2 >> 24) % 255);
            break;
        }
        if ((b[i] & 0x7FFFFFFFu) == 0u)
            b[i] |= 1u; /* no division by zero */
    }
}

int qcl_probe_mismatches(const uint32_t *a, const uint32_t *b, const uint32_t *out, int n, int with_div)
{
    fenv_t env;
    qk_fenv_enter(&env);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bad += out[3 * i] != qk_fmul(a[i], b[i]);
        bad += out[3 * i + 1] != qk_fadd(a[i], b[i]);
        bad += with_div && out[3 * i + 2] != qk_fdiv(a[i], b[i]);
    }
    qk_fenv_leave(&env);
    return bad;
}

#define PAIRS 6144

static int probe_run(qcl_state *s, int with_div)
{
    const qcl_api *cl = s->cl;
    uint32_t *a = malloc(PAIRS * 4 * 5), *b = a ? a + PAIRS : NULL, *out = a ? a + 2 * PAIRS : NULL;
    if (a == NULL)
        return 0;
    qcl_probe_pairs(a, b, PAIRS);
    memset(out, 0, PAIRS * 12);
    const char *src = (const char *)qk_opencl_probe_source;
    size_t len = qk_opencl_probe_source_size;
    cl_int err;
    cl_int div = with_div;
    cl_program prog = cl->clCreateProgramWithSource(s->ctx, 1, &src, &len, &err);
    cl_kernel k = NULL;
    cl_mem ba = NULL, bb = NULL, bo = NULL;
    int ok = err == CL_SUCCESS &&
             cl->clBuildProgram(prog, 1, &s->dev->device,
                                with_div ? "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt" : "-cl-std=CL1.2",
                                NULL, NULL) == CL_SUCCESS;
    if (ok)
        k = cl->clCreateKernel(prog, "ieee_probe", &err);
    ok = ok && err == CL_SUCCESS;
    if (ok) {
        ba = cl->clCreateBuffer(s->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, PAIRS * 4, a, &err);
        ok = err == CL_SUCCESS;
    }
    if (ok) {
        bb = cl->clCreateBuffer(s->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, PAIRS * 4, b, &err);
        ok = err == CL_SUCCESS;
    }
    if (ok) {
        bo = cl->clCreateBuffer(s->ctx, CL_MEM_WRITE_ONLY, PAIRS * 12, NULL, &err);
        ok = err == CL_SUCCESS;
    }
    size_t g = PAIRS;
    ok = ok && cl->clSetKernelArg(k, 0, sizeof ba, &ba) == CL_SUCCESS &&
         cl->clSetKernelArg(k, 1, sizeof bb, &bb) == CL_SUCCESS && cl->clSetKernelArg(k, 2, sizeof div, &div) == CL_SUCCESS &&
         cl->clSetKernelArg(k, 3, sizeof bo, &bo) == CL_SUCCESS &&
         cl->clEnqueueNDRangeKernel(s->qs[0], k, 1, NULL, &g, NULL, 0, NULL, NULL) == CL_SUCCESS &&
         cl->clEnqueueReadBuffer(s->qs[0], bo, CL_TRUE, 0, PAIRS * 12, out, 0, NULL, NULL) == CL_SUCCESS;
    ok = ok && qcl_probe_mismatches(a, b, out, PAIRS, with_div) == 0;
    if (bo)
        cl->clReleaseMemObject(bo);
    if (bb)
        cl->clReleaseMemObject(bb);
    if (ba)
        cl->clReleaseMemObject(ba);
    if (k)
        cl->clReleaseKernel(k);
    if (prog)
        cl->clReleaseProgram(prog);
    free(a);
    return ok;
}

/* A device's answer, kept for the process: every context on it would
 * otherwise build and run the probe again. */
#define PROBE_CACHE 32
typedef struct {
    cl_device_id dev;
    int with_div, ok;
} probe_answer;
static probe_answer probed[PROBE_CACHE];
static int nprobed;
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;

int qcl_probe_ieee(qcl_state *s, int with_div)
{
    pthread_mutex_lock(&probe_lock);
    int ok = -1;
    for (int i = 0; i < nprobed && ok < 0; i++)
        if (probed[i].dev == s->dev->device && probed[i].with_div == with_div)
            ok = probed[i].ok;
    if (ok < 0) {
        ok = probe_run(s, with_div);
        if (nprobed < PROBE_CACHE)
            probed[nprobed++] = (probe_answer){s->dev->device, with_div, ok};
    }
    pthread_mutex_unlock(&probe_lock);
    return ok;
}
