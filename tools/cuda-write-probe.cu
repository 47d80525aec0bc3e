/* Times store patterns alone, against cudaMemcpy device-to-device in the
 * same run, to tell why f32 dequantize (32 output bytes a thread) writes
 * slower than the 16-bit kernels (16 bytes a thread). Not part of libqk:
 *   nvcc -O3 -arch=sm_90 -o /tmp/wp tools/cuda-write-probe.cu && /tmp/wp
 * Each line: the pattern, milliseconds (best of 10), GB/s of bytes read plus
 * bytes written, and that as a percentage of the copy's. */
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef unsigned long long u64;

/* 16 bytes a thread, contiguous across the warp (the 16-bit kernels). */
__global__ void w16(uint4 *out, u64 n16)
{
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n16; i += (u64)gridDim.x * blockDim.x)
        out[i] = make_uint4((unsigned)i, 1, 2, 3);
}

/* 32 bytes a thread as two 16-byte stores (store8 for f32). */
__global__ void w32(uint4 *out, u64 n32)
{
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n32; i += (u64)gridDim.x * blockDim.x) {
        out[2 * i] = make_uint4((unsigned)i, 1, 2, 3);
        out[2 * i + 1] = make_uint4(4, 5, 6, 7);
    }
}

/* 32 bytes a thread, lanes 2m and 2m+1 trading halves so that each store
 * instruction writes whole 32-byte sectors. */
__global__ void w32_pair(uint4 *out, u64 n32)
{
    const unsigned odd = threadIdx.x & 1;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n32; i += (u64)gridDim.x * blockDim.x) {
        uint4 a = make_uint4((unsigned)i, 1, 2, 3), b = make_uint4(4, 5, 6, 7);
        uint4 give = odd ? a : b, got;
        got.x = __shfl_xor_sync(~0u, give.x, 1);
        got.y = __shfl_xor_sync(~0u, give.y, 1);
        got.z = __shfl_xor_sync(~0u, give.z, 1);
        got.w = __shfl_xor_sync(~0u, give.w, 1);
        u64 base = 2 * (i & ~1ull); /* the pair's first 16-byte slot */
        /* even lane: its first half, then the partner's first; odd lane: the
         * partner's second half, then its own second: no branch */
        out[base + odd] = odd ? got : a;
        out[base + 2 + odd] = odd ? b : got;
    }
}

/* 32 bytes a thread, the warp's stores strided by the warp: the thread's two
 * halves go to slots lane and lane + 32 of a 1 KiB run (each instruction
 * contiguous 512 bytes; the values would be another thread's). */
__global__ void w32_warp(uint4 *out, u64 n32)
{
    const unsigned lane = threadIdx.x & 31;
    u64 t0 = blockIdx.x * (u64)blockDim.x + threadIdx.x;
    for (u64 i = t0; i < n32; i += (u64)gridDim.x * blockDim.x) {
        u64 w = (i & ~31ull) * 2;
        out[w + lane] = make_uint4((unsigned)i, 1, 2, 3);
        out[w + 32 + lane] = make_uint4(4, 5, 6, 7);
    }
}

/* As w32 with streaming (evict-first) stores. */
__global__ void w32_cs(uint4 *out, u64 n32)
{
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n32; i += (u64)gridDim.x * blockDim.x) {
        __stcs(&out[2 * i], make_uint4((unsigned)i, 1, 2, 3));
        __stcs(&out[2 * i + 1], make_uint4(4, 5, 6, 7));
    }
}

/* The int8 -> f32 dequantize shape: 8 bytes in, 32 bytes out a thread. */
__global__ void r8w32(const uint2 *in, uint4 *out, u64 n32)
{
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n32; i += (u64)gridDim.x * blockDim.x) {
        uint2 v = in[i];
        out[2 * i] = make_uint4(v.x, v.y, v.x ^ 1, v.y ^ 1);
        out[2 * i + 1] = make_uint4(v.x ^ 2, v.y ^ 2, v.x ^ 3, v.y ^ 3);
    }
}

__global__ void r8w32_warp(const uint2 *in, uint4 *out, u64 n32)
{
    const unsigned lane = threadIdx.x & 31;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n32; i += (u64)gridDim.x * blockDim.x) {
        uint2 v = in[i];
        u64 w = (i & ~31ull) * 2;
        out[w + lane] = make_uint4(v.x, v.y, v.x ^ 1, v.y ^ 1);
        out[w + 32 + lane] = make_uint4(v.x ^ 2, v.y ^ 2, v.x ^ 3, v.y ^ 3);
    }
}

/* 16 bytes in, 16 bytes out: a copy by kernel. */
__global__ void copy16(const uint4 *in, uint4 *out, u64 n16)
{
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n16; i += (u64)gridDim.x * blockDim.x)
        out[i] = in[i];
}

static float best_ms(void (*launch)(void *, void *, u64), void *a, void *b, u64 n)
{
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float best = 1e30f;
    for (int rep = 0; rep < 11; rep++) {
        CHECK(cudaEventRecord(e0));
        launch(a, b, n);
        CHECK(cudaEventRecord(e1));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (rep > 0 && ms < best) /* the first run warms up */
            best = ms;
    }
    CHECK(cudaGetLastError());
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return best;
}

static int g_blocks;
#define LAUNCHER(name, kern, ...)                                                                  \
    static void name(void *a, void *b, u64 n) { kern<<<g_blocks, 256>>>(__VA_ARGS__); }
LAUNCHER(l_w16, w16, (uint4 *)b, n / 16)
LAUNCHER(l_w32, w32, (uint4 *)b, n / 32)
LAUNCHER(l_w32_pair, w32_pair, (uint4 *)b, n / 32)
LAUNCHER(l_w32_warp, w32_warp, (uint4 *)b, n / 32)
LAUNCHER(l_w32_cs, w32_cs, (uint4 *)b, n / 32)
LAUNCHER(l_r8w32, r8w32, (const uint2 *)a, (uint4 *)b, n / 32)
LAUNCHER(l_r8w32_warp, r8w32_warp, (const uint2 *)a, (uint4 *)b, n / 32)
LAUNCHER(l_copy16, copy16, (const uint4 *)a, (uint4 *)b, n / 16)
static void l_memcpy(void *a, void *b, u64 n) { CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice)); }

int main(void)
{
    const u64 n = 1ull << 30; /* output bytes */
    void *a, *b;
    CHECK(cudaMalloc(&a, n));
    CHECK(cudaMalloc(&b, n));
    CHECK(cudaMemset(a, 1, n));
    int sms;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs, output %llu MiB\n", prop.name, sms, n >> 20);
    struct {
        const char *name;
        void (*fn)(void *, void *, u64);
        double in_per_out; /* bytes read per byte written */
    } rows[] = {
        {"cudaMemcpy D2D", l_memcpy, 1.0},   {"copy 16 B/thread", l_copy16, 1.0},
        {"write 16 B/thread", l_w16, 0.0},   {"write 2x16 B/thread", l_w32, 0.0},
        {"write 2x16 pair-swap", l_w32_pair, 0.0}, {"write 2x16 warp-strided", l_w32_warp, 0.0},
        {"write 2x16 .cs", l_w32_cs, 0.0},   {"read 8 + write 2x16", l_r8w32, 0.25},
        {"read 8 + write warp-strided", l_r8w32_warp, 0.25},
    };
    double copy_gbs = 0;
    for (int bm : {4, 8, 16}) {
        g_blocks = sms * bm;
        printf("-- grid %d blocks of 256 (%d a SM)\n", g_blocks, bm);
        for (auto &r : rows) {
            float ms = best_ms(r.fn, a, b, n);
            double gbs = (double)n * (1.0 + r.in_per_out) / (ms * 1e-3) / 1e9;
            if (r.fn == l_memcpy)
                copy_gbs = gbs;
            printf("%-30s %8.3f ms %8.0f GB/s %5.1f%%\n", r.name, ms, gbs, 100.0 * gbs / copy_gbs);
        }
    }
    return 0;
}
