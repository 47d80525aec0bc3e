/* Double quant's offset (src/ref/bnb_mean.c) on the device: the absmax
 * vector's double sum in any order, with what qk_bnb_mean_if_exact's proof
 * needs (the lowest set bit of any value, whether any was negative or not
 * finite), and the mean where that proof holds. The partials come from
 * qk_bnb4_quantize64_sum as it writes the absmax (one per CUDA block,
 * added to across launches) or from qk_absmax_sum's pass over them. */
#ifndef QK_K_ABSMAX_SUM_CUH
#define QK_K_ABSMAX_SUM_CUH

#include "dev_common.cuh"

/* e with a = odd * 2^e (a finite, nonzero, >= 0): qk_f32_lsb_exp. */
static __device__ __forceinline__ int lsb_exp(u32 a)
{
    u32 ex = (a >> 23) & 0xFFu, m = a & 0x7FFFFFu;
    if (ex != 0u)
        m |= 0x800000u;
    return (ex != 0u ? (int)ex - 150 : -149) + __ffs(m) - 1;
}

/* A share of the mean: the double sum of some absmax in any order, the
 * lowest set bit of any nonzero one and whether any was negative, Inf or
 * NaN. {0, INT_MAX, 0} holds none (the host's cu_partial mirrors it). */
struct absmax_partial {
    double sum;
    int min_lsb;
    u32 bad;
};

static __device__ __forceinline__ absmax_partial partial_none(void)
{
    absmax_partial p = {0.0, 0x7FFFFFFF, 0u};
    return p;
}

static __device__ __forceinline__ void partial_merge(absmax_partial &p, absmax_partial q)
{
    p.sum = __dadd_rn(p.sum, q.sum);
    p.min_lsb = min(p.min_lsb, q.min_lsb);
    p.bad |= q.bad;
}

/* Combines the three across a block of blockDim.x (a multiple of 32, at
 * most 1024) threads; the block's thread 0 gets the total. Every thread of
 * the block must call it. */
static __device__ absmax_partial block_partial(absmax_partial p)
{
    __shared__ absmax_partial warps[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        p.sum = __dadd_rn(p.sum, __shfl_xor_sync(0xFFFFFFFFu, p.sum, o));
        p.min_lsb = min(p.min_lsb, __shfl_xor_sync(0xFFFFFFFFu, p.min_lsb, o));
        p.bad |= __shfl_xor_sync(0xFFFFFFFFu, p.bad, o);
    }
    if ((threadIdx.x & 31) == 0)
        warps[threadIdx.x >> 5] = p;
    __syncthreads();
    if (threadIdx.x == 0)
        for (unsigned w = 1; w < blockDim.x >> 5; w++)
            partial_merge(p, warps[w]);
    return p;
}

/* A thread's share is its double sum and one int, the minimum lsb of the
 * nonzero values it added, or INT_MIN once one was negative, Inf or NaN
 * (one register fewer than the pair: the quantize kernel's limit). */
static __device__ __forceinline__ void partial_add(double &sum, int &lsb, u32 a)
{
    sum = __dadd_rn(sum, (double)fl(a));
    lsb = min(lsb, a >= QK_F32_INF ? INT_MIN : (a != 0u ? lsb_exp(a) : 0x7FFFFFFF));
}

static __device__ __forceinline__ absmax_partial partial_of(double sum, int lsb)
{
    absmax_partial p = {sum, lsb == INT_MIN ? 0x7FFFFFFF : lsb, lsb == INT_MIN ? 1u : 0u};
    return p;
}

/* The CUDA block's partial (each thread's sum and lsb, from partial_add)
 * added to its slot part[blockIdx.x]; every thread calls it. Launches run
 * in stream order, so a chunk's partial adds to the previous chunks'. */
static __device__ __forceinline__ void partial_add_to_slot(absmax_partial *part, double sum, int lsb)
{
    absmax_partial p = block_partial(partial_of(sum, lsb));
    if (threadIdx.x == 0) {
        absmax_partial q = part[blockIdx.x];
        partial_merge(q, p);
        part[blockIdx.x] = q;
    }
}

/* Each block's partial of absmax[0, nb) into part[blockIdx.x]: no atomics,
 * so no seeding and no contention on one word. Four values a 16-byte load,
 * and the host sizes the grid to about one load a thread: a loop of
 * dependent loads would leave the pass latency-bound. */
KERNEL qk_absmax_sum(const u32 *absmax, i64 nb, absmax_partial *part)
{
    double sum = 0.0;
    int lsb = 0x7FFFFFFF;
    const uint4 *v = (const uint4 *)absmax;
    i64 nv = nb / 4, step = (i64)gridDim.x * blockDim.x;
    for (i64 i = gtid(); i < nv; i += step) {
        uint4 q = v[i];
        partial_add(sum, lsb, q.x);
        partial_add(sum, lsb, q.y);
        partial_add(sum, lsb, q.z);
        partial_add(sum, lsb, q.w);
    }
    if (gtid() < nb - nv * 4)
        partial_add(sum, lsb, absmax[nv * 4 + gtid()]);
    absmax_partial p = block_partial(partial_of(sum, lsb));
    if (threadIdx.x == 0)
        part[blockIdx.x] = p;
}

/* The offset from the partials part[0, nparts), on the device so the
 * nested pass follows without a host round trip: out[0] the f32 mean,
 * out[1] 1 when qk_bnb_mean_if_exact's proof holds (the sum is the
 * sequential one), else 0 and the host computes the offset and runs the
 * nested pass again. Each partial read is set back to none, ready for the
 * next quantize to add to. */
KERNEL qk_absmax_mean(absmax_partial *part, int nparts, i64 nb, u32 *out)
{
    absmax_partial p = partial_none();
#pragma unroll 4
    for (int k = threadIdx.x; k < nparts; k += blockDim.x) {
        partial_merge(p, part[k]);
        part[k] = partial_none();
    }
    p = block_partial(p);
    if (threadIdx.x != 0)
        return;
    /* 2^(min_lsb + 53): min_lsb is an f32 lsb in [-149, 104] when set */
    int exact = p.bad == 0u && p.sum >= 0.0 &&
                (p.sum == 0.0 || p.sum < __longlong_as_double((long long)(1023 + 53 + p.min_lsb) << 52));
    out[0] = exact ? __float_as_uint(__double2float_rn(__ddiv_rn(p.sum, (double)nb))) : 0u;
    out[1] = (u32)exact;
}

#endif
