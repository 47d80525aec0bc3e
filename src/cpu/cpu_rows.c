/* Row conversion and reductions of the fast CPU kernels. */
#include <pthread.h>
#include <stdlib.h>

#include "cpu_internal.h"

QK_CPU_HOT void qk_cpu_widen(qk_dtype dt, const void *in, int64_t i0, int64_t n, uint32_t *dst)
{
    if (dt == QK_DTYPE_F32) {
        memcpy(dst, (const uint32_t *)in + i0, (size_t)n * 4);
        return;
    }
    const uint16_t *s = (const uint16_t *)in + i0;
    if (dt == QK_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = (uint32_t)s[i] << 16;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dst[i] = qk_lane_from_f16(s[i]);
}

QK_CPU_HOT void qk_cpu_narrow(qk_dtype dt, const uint32_t *src, int64_t n, void *out, int64_t i0)
{
    if (dt == QK_DTYPE_F32) {
        memcpy((uint32_t *)out + i0, src, (size_t)n * 4);
        return;
    }
    uint16_t *d = (uint16_t *)out + i0;
    if (dt == QK_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++)
            d[i] = (uint16_t)qk_lane_to_bf16(src[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        d[i] = (uint16_t)qk_lane_to_f16(src[i]);
}

QK_CPU_HOT void qk_cpu_round_to(qk_dtype dt, uint32_t *v, int64_t n)
{
    if (dt == QK_DTYPE_BF16)
        for (int64_t i = 0; i < n; i++)
            v[i] = qk_lane_round_bf16(v[i]);
    else if (dt == QK_DTYPE_F16)
        for (int64_t i = 0; i < n; i++)
            v[i] = qk_lane_round_f16(v[i]);
}

/* On raw patterns: |x| orders like its bit pattern in every dtype, and the
 * widened maximum is the maximum of the widened values. */
QK_CPU_HOT uint32_t qk_cpu_amax(qk_dtype dt, const void *in, int64_t i0, int64_t n)
{
    if (dt == QK_DTYPE_F32) {
        const uint32_t *s = (const uint32_t *)in + i0;
        uint32_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t a = s[i] & 0x7FFFFFFFu;
            m = a > m ? a : m;
        }
        return m;
    }
    const uint16_t *s = (const uint16_t *)in + i0;
    uint16_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t a = (uint16_t)(s[i] & 0x7FFFu);
        m = a > m ? a : m;
    }
    return dt == QK_DTYPE_BF16 ? qk_bf16_to_f32(m) : qk_f16_to_f32(m);
}

#define AMAX_CHUNK 65536

typedef struct {
    qk_dtype dt;
    const void *in;
    int64_t n;
    uint32_t *partial;
} amax_job;

static void amax_chunks(void *arg, int64_t k0, int64_t k1)
{
    amax_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        int64_t i0 = k * AMAX_CHUNK;
        j->partial[k] = qk_cpu_amax(j->dt, j->in, i0, i0 + AMAX_CHUNK < j->n ? AMAX_CHUNK : j->n - i0);
    }
}

qk_status qk_cpu_amax_tensor(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n, uint32_t *amax)
{
    int64_t chunks = qk_ceil_div(n, AMAX_CHUNK);
    uint32_t *partial = malloc((size_t)(chunks > 0 ? chunks : 1) * 4);
    if (partial == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    amax_job j = {dt, in, n, partial};
    qk_exec_run(ex, chunks, 4, amax_chunks, &j);
    uint32_t m = 0;
    for (int64_t k = 0; k < chunks; k++)
        m = partial[k] > m ? partial[k] : m;
    free(partial);
    *amax = m;
    return m >= QK_F32_INF ? QK_ERR_NONFINITE : QK_OK;
}
