/* Staged host <-> device transfers through pinned buffers.
 *
 * The API takes pageable host buffers; DMA needs pinned memory. Each piece
 * goes through one of two pinned stages per direction, so the host's copy
 * of one piece overlaps the DMA of the one before, and both overlap the
 * kernels queued on the compute stream. */
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#define STAGE_BYTES ((size_t)16 << 20)

/* QK_CUDA_STAGE_BYTES / QK_CUDA_CHUNK_BYTES override the sizes (tests use
 * tiny odd values to exercise every piece and chunk boundary). */
static int64_t env_size(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    long long n = v ? atoll(v) : 0;
    return n > 0 ? (int64_t)n : dflt;
}

qk_status cu_stage_init(cu_state *st)
{
    st->stage_bytes = (size_t)env_size("QK_CUDA_STAGE_BYTES", (int64_t)STAGE_BYTES);
    st->chunk_bytes = env_size("QK_CUDA_CHUNK_BYTES", (int64_t)32 << 20);
    for (int k = 0; k < CU_STAGES; k++) {
        CU_CHECK(st->cu->MemAllocHost(&st->stage[k], st->stage_bytes));
        CU_CHECK(st->cu->EventCreate(&st->stage_ev[k], CU_EVENT_DISABLE_TIMING));
    }
    return QK_OK;
}

void cu_stage_free(cu_state *st)
{
    for (int k = 0; k < CU_STAGES; k++) {
        if (st->stage[k])
            st->cu->MemFreeHost(st->stage[k]);
        if (st->stage_ev[k])
            st->cu->EventDestroy(st->stage_ev[k]);
    }
}

qk_status cu_upload(cu_state *st, CUdeviceptr dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    while (n > 0) {
        size_t m = n < st->stage_bytes ? n : st->stage_bytes;
        int k = st->up_slot;
        st->up_slot ^= 1;
        CU_CHECK(st->cu->EventSynchronize(st->stage_ev[k])); /* its last DMA has read it */
        memcpy(st->stage[k], s, m);
        CU_CHECK(st->cu->MemcpyHtoDAsync(dst, st->stage[k], m, st->s_in));
        CU_CHECK(st->cu->EventRecord(st->stage_ev[k], st->s_in));
        s += m;
        dst += m;
        n -= m;
    }
    return QK_OK;
}

qk_status cu_upload_ready(cu_state *st)
{
    CU_CHECK(st->cu->EventRecord(st->ev_in, st->s_in));
    CU_CHECK(st->cu->StreamWaitEvent(st->s_comp, st->ev_in, 0));
    return QK_OK;
}

/* Copies download stage 2 + k out to its host destination once it landed. */
static qk_status drain_slot(cu_state *st, int k)
{
    if (st->pend_dst[k] == NULL)
        return QK_OK;
    CU_CHECK(st->cu->EventSynchronize(st->stage_ev[2 + k]));
    memcpy(st->pend_dst[k], st->stage[2 + k], st->pend_n[k]);
    st->pend_dst[k] = NULL;
    return QK_OK;
}

qk_status cu_download(cu_state *st, void *dst, CUdeviceptr src, size_t n)
{
    CU_CHECK(st->cu->EventRecord(st->ev_comp, st->s_comp));
    CU_CHECK(st->cu->StreamWaitEvent(st->s_out, st->ev_comp, 0));
    unsigned char *d = dst;
    while (n > 0) {
        size_t m = n < st->stage_bytes ? n : st->stage_bytes;
        int k = st->down_slot;
        st->down_slot ^= 1;
        qk_status s = drain_slot(st, k);
        if (s != QK_OK)
            return s;
        CU_CHECK(st->cu->MemcpyDtoHAsync(st->stage[2 + k], src, m, st->s_out));
        CU_CHECK(st->cu->EventRecord(st->stage_ev[2 + k], st->s_out));
        st->pend_dst[k] = d;
        st->pend_n[k] = m;
        d += m;
        src += m;
        n -= m;
    }
    return QK_OK;
}

qk_status cu_download_drain(cu_state *st)
{
    /* the slot about to be reused holds the older piece */
    qk_status s = drain_slot(st, st->down_slot);
    if (s == QK_OK)
        s = drain_slot(st, st->down_slot ^ 1);
    return s;
}
