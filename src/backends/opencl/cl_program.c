/* The embedded OpenCL C program: build options that keep every operation
 * exact, compilation (or a cached binary) and kernel lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

extern const unsigned char qk_opencl_source[];
extern const size_t qk_opencl_source_size;

static const char *const kernel_names[K_COUNT] = {
    "amax_tensor",          "bnb4_quantize",         "bnb4_dequantize",       "nvfp4_quantize",
    "nvfp4_dequantize",     "mxfp8_quantize",        "mxfp8_dequantize",      "scaled_tensor_params",
    "scaled_quantize_tensor", "scaled_quantize_groups", "scaled_dequantize",  "convrot_rotate",
    "convrot_dequantize",   "bnb_nested_dequantize", "bnb_absmax_sum",       "bnb_nested_quantize",
    "scaled_dequantize_tensor", "scaled_code_table16", "scaled_quantize_table16",
    "scaled_dequantize_rows", "bnb4_quantize64",        "mxfp8_quantize16",
    "scaled_quantize_groups16_4k", "scaled_quantize_groups16_16k", "product_codes_check", "convrot_quantize_rows",
    "convrot_dequantize_rows", "nvfp4_dequantize_blocks",
    "nvfp4_quantize16",     "convrot_dequantize_runs", "bnb_absmax_mean",   "nvfp4_scale_table16",
    "int8_scalars_check",   "bnb4_quantize64_rec", "convrot_quantize_native_bf16", "convrot_quantize_native_f16",
    "convrot_quantize_native_f32", "f32_codes_check", "bnb4_quantize64_f32", "bnb4_quantize64_f32_rec",
    "mxfp8_quantize32",     "scaled_quantize_groups32_4k", "scaled_quantize_groups32_16k",
};

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Native f32 mul/add are correctly rounded in OpenCL; division only with
 * CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT and the flag below. What a device
 * does with subnormals and which NaN it returns are its own, so the kernels
 * check operands (common.cl): QK_NATIVE_FINITE, where the probe showed the
 * device keeps subnormals (cl_probe.c), sends only NaN and Inf operands to
 * the integer code; QK_NATIVE_GUARD, elsewhere, also subnormal operands and
 * results. CPU devices that keep subnormals (PoCL) check nothing: their SIMD
 * code would if-convert the check into running the integer path for every
 * lane. QK_OPENCL_NATIVE_GUARD=1 forces the full guard, =finite the finite
 * check on a device that passed the probe. The integer code of qk_codec.h
 * covers everything with QK_OPENCL_SOFTFLOAT=1. Never
 * -cl-fast-relaxed-math, -cl-mad-enable, -cl-denorms-are-zero or
 * -cl-unsafe-math-optimizations; contraction is off by pragma in the
 * source. QK_SPECIALISE (common.cl) is defined for devices that are not
 * CPUs; QK_OPENCL_SPECIALISE=1 or 0 forces it on or off.
 * QK_OPENCL_HALF_STORES=0 keeps ConvRot's f16 output on the integer
 * narrowing (QK_NO_HALF_STORES; common.cl st_half8 says where it is used). */
static void build_options(qcl_state *s, char *out, size_t n)
{
    int native_mul = !s->soft_float;
    int native_div = native_mul && s->dev->cr_divide;
    const char *force = getenv("QK_OPENCL_NATIVE_GUARD");
    int force_guard = force && strcmp(force, "1") == 0, force_finite = force && strcmp(force, "finite") == 0;
    const char *check = "";
    s->native_f32 = native_mul && !(force_guard || !s->native_ieee); /* convrot_rows.cl's CR_NATIVE */
    if (native_mul && (force_guard || !s->native_ieee))
        check = " -DQK_NATIVE_GUARD=1";
    else if (native_mul && (force_finite || !(s->dev->host_cpu && s->dev->denorms)))
        check = " -DQK_NATIVE_FINITE=1";
    const char *spec_env = getenv("QK_OPENCL_SPECIALISE");
    int specialise = spec_env && *spec_env ? strcmp(spec_env, "0") != 0 : !s->dev->host_cpu;
    const char *half_env = getenv("QK_OPENCL_HALF_STORES");
    int no_half = half_env && strcmp(half_env, "0") == 0;
    snprintf(out, n, "-cl-std=CL1.2%s%s%s%s%s", native_mul ? " -DQK_NATIVE_MUL=1" : "",
             native_div ? " -DQK_NATIVE_DIV=1 -cl-fp32-correctly-rounded-divide-sqrt" : "", check,
             specialise ? " -DQK_SPECIALISE=1" : "", no_half ? " -DQK_NO_HALF_STORES=1" : "");
}

static qk_status build_log_fail(qcl_state *s, cl_program prog, cl_int err)
{
    char log[2048] = "";
    s->cl->clGetProgramBuildInfo(prog, s->dev->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    log[sizeof log - 1] = '\0';
    return qk_fail(QK_ERR_BACKEND_FAILURE, "opencl: building the kernels for %s failed (%s): %.1500s",
                   s->dev->name, qcl_error_name(err), log);
}

static cl_program from_binary(qcl_state *s, const unsigned char *bin, size_t size, const char *opts)
{
    cl_int err, bin_status;
    cl_program prog = s->cl->clCreateProgramWithBinary(s->ctx, 1, &s->dev->device, &size, &bin,
                                                       &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS)
        return NULL;
    if (s->cl->clBuildProgram(prog, 1, &s->dev->device, opts, NULL, NULL) != CL_SUCCESS) {
        s->cl->clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static void store_binary(qcl_state *s, cl_program prog, const char *key)
{
    size_t size = 0;
    if (s->cl->clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (bin && s->cl->clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
        qcl_cache_store(key, strlen(key), bin, size);
    free(bin);
}

static int create_kernels(qcl_state *s)
{
    for (int i = 0; i < K_COUNT; i++) {
        cl_int err;
        s->k[i] = s->cl->clCreateKernel(s->prog, kernel_names[i], &err);
        if (err != CL_SUCCESS)
            return -1;
    }
    return 0;
}

static void release_kernels(qcl_state *s)
{
    for (int i = 0; i < K_COUNT; i++)
        if (s->k[i]) {
            s->cl->clReleaseKernel(s->k[i]);
            s->k[i] = NULL;
        }
}

/* Largest power of two <= every reduction kernel's limit, at most 256.
 * Kernels compiled for one work-group size (reqd_work_group_size) are
 * launched with that size and left out: a driver that reports it as their
 * limit would otherwise shrink every other kernel's work-groups to it. */
static size_t pick_wg(qcl_state *s)
{
    size_t wg = 256;
    if (s->dev->max_wg < wg)
        wg = s->dev->max_wg;
    for (int i = 0; i < K_COUNT; i++) {
        size_t kw = 0, fixed[3] = {0, 0, 0};
        if (s->cl->clGetKernelWorkGroupInfo(s->k[i], s->dev->device, CL_KERNEL_COMPILE_WORK_GROUP_SIZE,
                                            sizeof fixed, fixed, NULL) == CL_SUCCESS && fixed[0] != 0)
            continue;
        if (s->cl->clGetKernelWorkGroupInfo(s->k[i], s->dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kw,
                                            &kw, NULL) == CL_SUCCESS && kw > 0 && kw < wg)
            wg = kw;
    }
    size_t p = 1;
    while (p * 2 <= wg)
        p *= 2;
    return p;
}

qk_status qcl_program_build(qcl_state *s)
{
    char opts[256], key[1024];
    build_options(s, opts, sizeof opts);
    snprintf(key, sizeof key, "qk-opencl-1|src=%016llx:%zu|opts=%s|plat=%s|dev=%s|ver=%s|drv=%s",
             (unsigned long long)fnv1a(qk_opencl_source, qk_opencl_source_size), qk_opencl_source_size,
             opts, s->dev->platform_name, s->dev->name, s->dev->version, s->dev->driver);
    size_t bin_size = 0;
    unsigned char *bin = qcl_cache_load(key, strlen(key), &bin_size);
    if (bin != NULL) {
        s->prog = from_binary(s, bin, bin_size, opts);
        free(bin);
        if (s->prog != NULL && create_kernels(s) != 0) { /* a foreign binary: start over */
            release_kernels(s);
            s->cl->clReleaseProgram(s->prog);
            s->prog = NULL;
        }
    }
    if (s->prog == NULL) {
        const char *src = (const char *)qk_opencl_source;
        size_t len = qk_opencl_source_size;
        cl_int err;
        char dir[1024];
        if (qcl_cache_where(dir, sizeof dir) == 0)
            qk_notice("opencl: compiling the kernels for %s (first use of this driver and qk build; can take "
                      "minutes; cached in %s)", s->dev->name, dir);
        else
            qk_notice("opencl: compiling the kernels for %s (can take minutes; the binary cache is off)",
                      s->dev->name);
        s->prog = s->cl->clCreateProgramWithSource(s->ctx, 1, &src, &len, &err);
        if (err != CL_SUCCESS)
            return qcl_check(err, "clCreateProgramWithSource");
        err = s->cl->clBuildProgram(s->prog, 1, &s->dev->device, opts, NULL, NULL);
        if (err != CL_SUCCESS)
            return build_log_fail(s, s->prog, err);
        if (create_kernels(s) != 0) {
            release_kernels(s);
            return qk_fail(QK_ERR_BACKEND_FAILURE, "opencl: a kernel is missing from the program");
        }
        store_binary(s, s->prog, key);
    }
    s->wg = pick_wg(s);
    return QK_OK;
}
