/* CUDA backend: device discovery, contexts, the embedded module and the
 * vtable. The driver API comes from cuda_driver.c (loaded at run time) and
 * the kernels from the fatbin that cuda/meson.build embeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../cuda/qk_fast_codec.h"
#include "cuda_internal.h"

extern const unsigned char qk_cuda_fatbin[];
extern const size_t qk_cuda_fatbin_size;

static const char *const kernel_names[K_COUNT] = {
    "qk_bnb4_quantize", "qk_bnb4_dequantize", "qk_bnb_nested_quantize",
    "qk_nvfp4_quantize", "qk_nvfp4_dequantize", "qk_mxfp8_quantize", "qk_mxfp8_dequantize",
    "qk_group_amax", "qk_fp8_quantize", "qk_fp8_dequantize", "qk_int8_quantize", "qk_int8_dequantize",
    "qk_convrot_int8", "qk_convrot_dequantize", "qk_native_probe", "qk_selftest",
    "qk_absmax_sum", "qk_group_quantize_4k", "qk_group_quantize_16k", "qk_code_table16",
    "qk_quantize_by_table16", "qk_group_dequantize", "qk_convrot_quantize_rows", "qk_convrot_dequantize_rows",
    "qk_convrot_quantize_rows4k", "qk_convrot_dequantize_rows4k", "qk_bnb4_quantize64", "qk_group_quantize_warp",
    "qk_nvfp4_scale_table", "qk_nvfp4_quantize16", "qk_nvfp4_dequantize8", "qk_group_amax4",
    "qk_absmax_mean", "qk_convrot_dequantize64", "qk_bnb4_quantize64_sum", "qk_group_quantize_16k_f32",
    "qk_nvfp4_dequantize_spans", "qk_mxfp8_dequantize_spans", "qk_bnb4_quantize64_f32", "qk_bnb4_quantize64_f32_sum",
};

unsigned cu_block_threads(int k)
{
    if (k == K_QUANTIZE_BY_TABLE16 || k == K_GROUP_Q_16K_F32)
        return 1024u;
    if (k == K_CONVROT_Q_ROWS4K)
        return 128u; /* k_convrot_rows_q.cuh: CRQ_THREADS_4K */
    return k == K_CONVROT_DQ64 ? 128u : 256u; /* k_convrot64.cuh */
}

qk_status cu_fail(const char *what, CUresult r)
{
    return qk_fail(QK_ERR_BACKEND_FAILURE, "cuda: %s failed: %s (%d)", what, qk_cu_error(r), r);
}

qk_status cu_launch_smem(cu_state *st, int k, int64_t blocks, unsigned block, unsigned smem, void **params)
{
    if (blocks <= 0)
        return QK_OK;
    if (blocks > 0x7FFFFFFF)
        return qk_fail(QK_ERR_OVERFLOW, "cuda: launch of %lld blocks is too large", (long long)blocks);
    CU_CHECK(st->cu->LaunchKernel(st->fn[k], (unsigned)blocks, 1, 1, block, 1, 1, smem, st->s_comp, params, NULL));
    return QK_OK;
}

qk_status cu_launch_grid(cu_state *st, int k, int64_t blocks, unsigned block, void **params)
{
    return cu_launch_smem(st, k, blocks, block, 0, params);
}

qk_status cu_launch(cu_state *st, int k, int64_t threads, unsigned block, void **params)
{
    return cu_launch_grid(st, k, (threads + block - 1) / block, block, params);
}

static int cuda_probe(const char **reason)
{
    int n = 0;
    qk_cu_load(&n, reason);
    return n;
}

static qk_status cuda_device_info(int device, qk_device_info *out)
{
    const qk_cu_api *cu = qk_cu_load(NULL, NULL);
    CUdevice dev;
    if (cu == NULL || cu->DeviceGet(&dev, device) != CUDA_SUCCESS)
        return qk_fail(QK_ERR_BACKEND_UNAVAILABLE, "cuda: no device %d", device);
    memset(out, 0, sizeof *out);
    cu->DeviceGetName(out->name, (int)sizeof out->name, dev);
    snprintf(out->vendor, sizeof out->vendor, "NVIDIA");
    size_t mem = 0;
    if (cu->DeviceTotalMem(&mem, dev) == CUDA_SUCCESS)
        out->memory_bytes = mem;
    cu->DeviceGetAttribute(&out->compute_units, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    return QK_OK;
}

static void cuda_close(void *state)
{
    cu_state *st = state;
    if (st == NULL)
        return;
    const qk_cu_api *cu = st->cu;
    if (st->ctx) {
        cu->CtxSetCurrent(st->ctx);
        cu_stage_free(st);
        if (st->tables)
            cu->MemFree(st->tables);
        CUstream ss[3] = {st->s_in, st->s_comp, st->s_out};
        for (int k = 0; k < 3; k++)
            if (ss[k])
                cu->StreamDestroy(ss[k]);
        CUevent es[4] = {st->ev_in, st->ev_comp, st->ev_t0, st->ev_t1};
        for (int k = 0; k < 4; k++)
            if (es[k])
                cu->EventDestroy(es[k]);
        if (st->mod)
            cu->ModuleUnload(st->mod);
        cu->DevicePrimaryCtxRelease(st->dev);
        /* leave no released context current on this thread */
        cu->CtxSetCurrent(NULL);
    }
    free(st);
}

/* Which conversions the code the driver picked for this device has: the
 * Blackwell e2m1/ue8m0 path only exists in the sm_100f / sm_120f builds
 * (a device of another family running the PTX must not take it). */
static qk_status probe_native(cu_state *st)
{
    CUdeviceptr d;
    CU_CHECK(st->cu->MemAlloc(&d, 8));
    void *args[] = {&d};
    uint32_t r[2] = {0, 0};
    qk_status s = cu_launch_grid(st, K_PROBE, 1, 1, args);
    if (s == QK_OK && (st->cu->MemcpyDtoHAsync(r, d, 8, st->s_comp) != CUDA_SUCCESS ||
                       st->cu->StreamSynchronize(st->s_comp) != CUDA_SUCCESS))
        s = cu_fail("native probe", 1);
    st->cu->MemFree(d);
    st->native_fp4 = (int)r[0];
    st->arch = (int)r[1];
    /* QK_CUDA_NATIVE=0 forces the portable path (to compare both). */
    const char *env = getenv("QK_CUDA_NATIVE");
    if (env && env[0] == '0')
        st->native_fp4 = 0;
    return s;
}

_Static_assert(CU_TAB_WORDS - CU_TAB_DMAP_CODE == QKF_DMAP_BUCKETS, "cu_tables.h: the dynamic-map lookup's size");

/* bitsandbytes' measured reciprocal tables, the dynamic map, the NF4/FP4
 * code tables and the dynamic-map lookup, laid out as cuda/cu_tables.h
 * says. */
static qk_status upload_tables(cu_state *st)
{
    uint32_t *tab = malloc(CU_TAB_WORDS * sizeof *tab);
    if (tab == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: tables");
    memcpy(tab + CU_TAB_RCP_BF16, qk_bnb_rcp_bf16, sizeof qk_bnb_rcp_bf16);
    memcpy(tab + CU_TAB_RCP_F16, qk_bnb_rcp_f16, sizeof qk_bnb_rcp_f16);
    memcpy(tab + CU_TAB_DMAP, qk_bnb_dynamic_map, sizeof qk_bnb_dynamic_map);
    qk_status s = QK_OK;
    if (qkf_nf4_bucket_table(tab + CU_TAB_NF4) != 0 || qkf_bnb_code_table(0, tab + CU_TAB_BNB_FP4) != 0 ||
        qkf_bnb_code_table(1, tab + CU_TAB_BNB_NF4) != 0 ||
        qkf_dmap_table(qk_bnb_dynamic_map_code, tab + CU_TAB_DMAP_CODE) != 0)
        s = qk_fail(QK_ERR_BACKEND_FAILURE, "cuda: a code bucket holds two thresholds");
    CUresult r = s == QK_OK ? st->cu->MemAlloc(&st->tables, CU_TAB_WORDS * sizeof *tab) : CUDA_SUCCESS;
    if (s == QK_OK && r == CUDA_SUCCESS)
        r = st->cu->MemcpyHtoD(st->tables, tab, CU_TAB_WORDS * sizeof *tab);
    if (r != CUDA_SUCCESS)
        s = cu_fail("table upload", r);
    free(tab);
    return s;
}

static qk_status open_state(cu_state *st, int device)
{
    const qk_cu_api *cu = st->cu;
    CU_CHECK(cu->DeviceGet(&st->dev, device));
    CU_CHECK(cu->DevicePrimaryCtxRetain(&st->ctx, st->dev));
    CU_CHECK(cu->CtxSetCurrent(st->ctx));
    cu->DeviceGetAttribute(&st->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, st->dev);
    if (st->sms < 1)
        st->sms = 1;
    /* an aligned copy of the image: the embedded array is only byte-aligned */
    void *image = malloc(qk_cuda_fatbin_size + 16);
    if (image == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(image, qk_cuda_fatbin, qk_cuda_fatbin_size);
    CUresult r = cu->ModuleLoadData(&st->mod, image);
    free(image);
    if (r != CUDA_SUCCESS)
        return cu_fail("cuModuleLoadData (no code in libqk's fatbin for this GPU?)", r);
    for (int k = 0; k < K_COUNT; k++)
        CU_CHECK(cu->ModuleGetFunction(&st->fn[k], st->mod, kernel_names[k]));
    /* above the default 48 KiB of dynamic shared memory (sm_70 on); the
     * per-element kernel serves where the device says no */
    st->table16 = cu->FuncSetAttribute(st->fn[K_QUANTIZE_BY_TABLE16], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                       CU_TABLE16_BYTES) == CUDA_SUCCESS;
    /* grid-stride kernels launch as many blocks as fit at once: one more
     * than fits would run as a second, mostly empty wave */
    /* tuning only (BACKEND-CUDA.md): N blocks a SM, or all that fit if
     * fewer, for every kernel, in place of the plans' own caps */
    const char *cap = getenv("QK_CUDA_BLOCKS_PER_SM");
    int cap_n = cap ? atoi(cap) : 0;
    st->blocks_tuned = cap_n > 0;
    for (int k = 0; k < K_COUNT; k++) {
        size_t smem = k == K_QUANTIZE_BY_TABLE16 ? CU_TABLE16_BYTES : 0;
        CUresult occ = cu->OccupancyMaxActiveBlocksPerMultiprocessor(&st->resident[k], st->fn[k],
                                                                     (int)cu_block_threads(k), smem);
        if (occ != CUDA_SUCCESS || st->resident[k] < 1)
            st->resident[k] = 1;
        if (cap_n > 0 && st->resident[k] > cap_n)
            st->resident[k] = cap_n;
    }
    CU_CHECK(cu->StreamCreate(&st->s_in, CU_STREAM_NON_BLOCKING));
    CU_CHECK(cu->StreamCreate(&st->s_comp, CU_STREAM_NON_BLOCKING));
    CU_CHECK(cu->StreamCreate(&st->s_out, CU_STREAM_NON_BLOCKING));
    CU_CHECK(cu->EventCreate(&st->ev_in, CU_EVENT_DISABLE_TIMING));
    CU_CHECK(cu->EventCreate(&st->ev_comp, CU_EVENT_DISABLE_TIMING));
    CU_CHECK(cu->EventCreate(&st->ev_t0, CU_EVENT_DEFAULT));
    CU_CHECK(cu->EventCreate(&st->ev_t1, CU_EVENT_DEFAULT));
    qk_status s = cu_stage_init(st);
    if (s != QK_OK)
        return s;
    s = upload_tables(st);
    return s != QK_OK ? s : probe_native(st);
}

static qk_status cuda_open(int device, void **state)
{
    const char *why = "";
    const qk_cu_api *cu = qk_cu_load(NULL, &why);
    if (cu == NULL)
        return qk_fail(QK_ERR_BACKEND_UNAVAILABLE, "cuda: %s", why);
    cu_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    st->cu = cu;
    qk_status s = open_state(st, device);
    if (s != QK_OK) {
        cuda_close(st);
        return s;
    }
    *state = st;
    return QK_OK;
}

static int cuda_supports(void *state, qk_op op, const qk_params *p, qk_dtype dt)
{
    (void)state;
    (void)op;
    (void)p;
    return dt == QK_DTYPE_F32 || dt == QK_DTYPE_F16 || dt == QK_DTYPE_BF16;
}

static qk_status make_current(cu_state *st)
{
    CU_CHECK(st->cu->CtxSetCurrent(st->ctx));
    return QK_OK;
}

static qk_status cuda_quantize(void *state, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                               int64_t cols, void *const parts[QK_PART_COUNT])
{
    qk_status s = make_current(state);
    return s == QK_OK ? cu_quantize(state, p, dt, in, rows, cols, parts) : s;
}

static qk_status cuda_dequantize(void *state, const qk_params *p, const void *const parts[QK_PART_COUNT],
                                 int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    qk_status s = make_current(state);
    return s == QK_OK ? cu_dequantize(state, p, parts, rows, cols, dt, out) : s;
}

static qk_status cuda_sync(void *state)
{
    cu_state *st = state;
    qk_status s = make_current(st);
    if (s == QK_OK)
        CU_CHECK(st->cu->StreamSynchronize(st->s_comp));
    return s;
}

static qk_status cuda_bench(void *state, qk_op op, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                            int64_t cols, int iterations, qk_bench_result *res)
{
    qk_status s = make_current(state);
    return s == QK_OK ? cu_bench(state, op, p, dt, in, rows, cols, iterations, res) : s;
}

const qk_backend qk_backend_cuda = {
    "cuda", 1, cuda_probe, cuda_device_info, cuda_open, cuda_close, cuda_supports,
    cuda_quantize, cuda_dequantize, cuda_sync, NULL, cuda_bench,
};

/* ---- test hooks (tests/test_cuda.c) ------------------------------------------ */

qk_status qk_cuda_native_fp4(int *native, int *arch)
{
    void *state;
    qk_status s = cuda_open(0, &state);
    if (s != QK_OK)
        return s;
    cu_state *st = state;
    *native = st->native_fp4;
    *arch = st->arch;
    cuda_close(st);
    return QK_OK;
}

qk_status qk_cuda_selftest(int which, uint64_t *fails, uint32_t *first)
{
    void *state;
    qk_status s = cuda_open(0, &state);
    if (s != QK_OK)
        return s;
    cu_state *st = state;
    CUdeviceptr d = 0;
    uint64_t init[2] = {0, 0xFFFFFFFFu};
    if (st->cu->MemAlloc(&d, 16) != CUDA_SUCCESS || st->cu->MemcpyHtoD(d, init, 16) != CUDA_SUCCESS) {
        s = cu_fail("selftest setup", 1);
    } else {
        CUdeviceptr cnt = d, fst = d + 8;
        /* 2^32 inputs: 4 launches of 2^24 threads x 64 inputs */
        for (uint32_t part = 0; part < 4 && s == QK_OK; part++) {
            uint32_t base = part << 30;
            void *args[] = {&which, &base, &cnt, &fst, &st->tables};
            s = cu_launch_grid(st, K_SELFTEST, 1 << 16, 256, args);
        }
        uint64_t out[2];
        if (s == QK_OK && (st->cu->MemcpyDtoHAsync(out, d, 16, st->s_comp) != CUDA_SUCCESS ||
                           st->cu->StreamSynchronize(st->s_comp) != CUDA_SUCCESS))
            s = cu_fail("selftest", 1);
        if (s == QK_OK) {
            *fails = out[0];
            *first = (uint32_t)out[1];
        }
    }
    if (d)
        st->cu->MemFree(d);
    cuda_close(st);
    return s;
}
