/* Internal interface of the CUDA backend (src/backends/cuda). */
#ifndef QK_CUDA_INTERNAL_H
#define QK_CUDA_INTERNAL_H

#include <stdint.h>

#include "../../core/core_internal.h"
#include "../../ref/ref_internal.h"
#include "../../../cuda/cu_tables.h"
#include "cuda_driver.h"

/* Kernels of cuda/qk_kernels.cu, by index (names in cuda_backend.c). */
enum {
    K_BNB4_Q, K_BNB4_DQ, K_NESTED_Q, K_NVFP4_Q, K_NVFP4_DQ, K_MXFP8_Q, K_MXFP8_DQ,
    K_GROUP_AMAX, K_FP8_Q, K_FP8_DQ, K_INT8_Q, K_INT8_DQ, K_CONVROT_INT8, K_CONVROT_DQ, K_PROBE,
    K_SELFTEST, K_ABSMAX_SUM, K_GROUP_Q_4K, K_GROUP_Q_16K,
    K_CODE_TABLE16, K_QUANTIZE_BY_TABLE16, K_GROUP_DQ,
    K_CONVROT_Q_ROWS, K_CONVROT_DQ_ROWS, K_CONVROT_Q_ROWS4K, K_CONVROT_DQ_ROWS4K, K_BNB4_Q64, K_GROUP_Q_WARP,
    K_NVFP4_TABLE, K_NVFP4_Q16, K_NVFP4_DQ8, K_GROUP_AMAX4, K_ABSMAX_MEAN, K_CONVROT_DQ64,
    K_BNB4_Q64_SUM, K_GROUP_Q_16K_F32, K_NVFP4_DQ_SPANS, K_MXFP8_DQ_SPANS, K_BNB4_Q64_F32, K_BNB4_Q64_F32_SUM,
    K_COUNT
};

#define CU_STAGES 4 /* 0, 1: uploads; 2, 3: downloads */

typedef struct cu_state {
    const qk_cu_api *cu;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn[K_COUNT];
    CUstream s_in, s_comp, s_out;
    CUevent ev_in, ev_comp, ev_t0, ev_t1;
    void *stage[CU_STAGES];
    CUevent stage_ev[CU_STAGES];
    size_t stage_bytes;
    int64_t chunk_bytes; /* input bytes per pipelined chunk */
    int up_slot, down_slot;
    void *pend_dst[2]; /* host copy-out waiting on download stage 2 + k */
    size_t pend_n[2];
    CUdeviceptr tables; /* u32, laid out as cuda/cu_tables.h says */
    int native_fp4;     /* the module has (and the host uses) the Blackwell path */
    int arch;           /* __CUDA_ARCH__ of the code the driver picked */
    int sms;
    int table16;        /* qk_quantize_by_table16 may take its 64 KiB of shared memory */
    int resident[K_COUNT]; /* blocks that fit on one multiprocessor (256 threads; the table kernel 1024) */
    int blocks_tuned;      /* QK_CUDA_BLOCKS_PER_SM set: resident holds it, the built-in caps step aside */
} cu_state;

#define CU_TABLE16_BYTES 65536 /* QK_TABLE16_BYTES of k_code_table.cuh */

/* Records "what: CUDA error" and returns QK_ERR_BACKEND_FAILURE. */
qk_status cu_fail(const char *what, CUresult r);
#define CU_CHECK(call)                                                                             \
    do {                                                                                           \
        CUresult cu_r_ = (call);                                                                   \
        if (cu_r_ != CUDA_SUCCESS)                                                                 \
            return cu_fail(#call, cu_r_);                                                          \
    } while (0)

/* 1-D launch of n threads in blocks of `block` on the compute stream. */
qk_status cu_launch(cu_state *st, int k, int64_t threads, unsigned block, void **params);
qk_status cu_launch_grid(cu_state *st, int k, int64_t blocks, unsigned block, void **params);
/* The threads of kernel k's blocks (the size its occupancy was taken for). */
unsigned cu_block_threads(int k);
qk_status cu_launch_smem(cu_state *st, int k, int64_t blocks, unsigned block, unsigned smem, void **params);

/* Staged transfers (cuda_xfer.c): host <-> device through pinned buffers,
 * double-buffered so the host copy of one piece overlaps the DMA of the
 * previous. Uploads run on s_in, downloads on s_out after the compute
 * stream's work so far. */
qk_status cu_upload(cu_state *st, CUdeviceptr dst, const void *src, size_t n);
qk_status cu_upload_ready(cu_state *st); /* compute stream waits for uploads so far */
qk_status cu_download(cu_state *st, void *dst, CUdeviceptr src, size_t n);
qk_status cu_download_drain(cu_state *st); /* completes every pending download */
qk_status cu_stage_init(cu_state *st);
void cu_stage_free(cu_state *st);

/* Operations (cuda_ops.c). */
qk_status cu_quantize(cu_state *st, const qk_params *p, qk_dtype dt, const void *in, int64_t rows, int64_t cols,
                      void *const parts[QK_PART_COUNT]);
qk_status cu_dequantize(cu_state *st, const qk_params *p, const void *const parts[QK_PART_COUNT], int64_t rows,
                        int64_t cols, qk_dtype dt, void *out);
qk_status cu_bench(cu_state *st, qk_op op, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                   int64_t cols, int iterations, qk_bench_result *res);

/* Exhaustive device self-test `which` (cuda/k_selftest.cuh) over every
 * 32-bit input on device 0: mismatch count and smallest failing input.
 * For tests/test_cuda.c. native_fp4 reports the Blackwell path. */
qk_status qk_cuda_selftest(int which, uint64_t *fails, uint32_t *first);
qk_status qk_cuda_native_fp4(int *native, int *arch);

#endif
