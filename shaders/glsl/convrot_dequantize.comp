#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require
/* int8_tensorwise ConvRot dequantize (src/ref/ref_int8.c, convrot.c) of
 * per-row scales, G = 4, 16, 64 or 256, rows a multiple of 64 and of G:
 * T(unrotate(q * scale[row])), one pass, no workgroup barrier.
 *
 * A thread takes 64 consecutive values (its codes: four 16-byte loads,
 * issued one step ahead on a grid-stride loop) and runs the levels of
 * stride 1, 4 and 16 in registers. In rows of whole 256-value runs (G =
 * 256 always) the four threads of a team (consecutive subgroup
 * invocations: the pipeline requires full subgroups) hold 256 values:
 * they swap them through shared memory behind a subgroup barrier, so that
 * each holds the values 16 t + i + 64 m (i < 16, m < 4), runs the level
 * of stride 64 (G = 256) and stores four runs of 16. One exchange (a
 * store and a load a value), against two and four workgroup barriers in
 * convrot.comp, which stays for G = 1024 and other shapes.
 *
 * Native path, chosen per row from its scale s alone (no test a value):
 * where s is normal with 2^(L-103) <= |s| < 2^(120-2L) (L = log4 G), the
 * reference's chain has no subnormal and no overflow: each q * s and each
 * sum is zero or a multiple of ulp(s) >= 2^(L-126), so a nonzero one is
 * normal, and |q s| <= 128 |s| < 2^(127-2L) grows at most 4-fold a level.
 * Then every value scaled by 2^-L is still zero or normal (>= 2^-126), and
 * RN commutes with that exact scaling: the products q * s' with s' = s *
 * 2^-L (exact, one exponent step down) and native RTE sums give the
 * reference's final values directly, and the last product by 2^-L is
 * gone. Signed zeros follow IEEE in both chains. Codes widen by one exact
 * subtraction (0x4B000000 | (c + 128) is 2^23 + 128 + c). The rounding to
 * T of those normal-or-zero values runs on the bits; f16's subnormal range
 * (|y| < 2^-14) by one native sum, |y| + 0.75, whose bits less 0.75's are
 * the f16 code (its ulp is 2^-24, and 0.75's significand is even, so RTE
 * ties go to even k).
 *
 * Any other row (tiny, huge, zero, subnormal, Inf or NaN scales) takes
 * the exact path: exact products, sums (in shared memory) and scaling by
 * 2^-L with the reference host's NaN results (qk_cr_mul, qk_cr_add), then
 * qk_pack_out. A team shares its row, so both
 * paths meet at the same subgroup barriers.
 *
 * Shared memory: value p of the workgroup's 4096 at cr_slot(p), padded so
 * that a warp's stores (64 L + k, lanes L) and loads (256 j + 16 t + 64 m
 * + i, lanes 4 j + t) both hit 32 banks. */
#define CRD_THREADS 64u
#define CRD_SPAN (64u * CRD_THREADS) /* vk_ops.c: QK_VK_CONVROT_DQ_SPAN */
layout(local_size_x = CRD_THREADS) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src; /* 16 codes a word */
layout(std430, binding = 1) writeonly buffer Out { uvec4 w[]; } dst;
layout(std430, binding = 2) readonly buffer Scale { uint w[]; } scale;
layout(push_constant) uniform PC {
    uint total;  /* elements in this chunk: whole rows */
    uint cols;   /* a multiple of 64 and of G */
    uint r0;     /* the chunk's first row */
    uint group;  /* G: 4, 16, 64 or 256 */
    uint levels; /* L = log4 G */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

uint cr_slot(uint p) { return p + 8u * (p >> 6) + (p >> 8) + 8u * ((p >> 5) & 1u); }
#define QK_CR_SLOT(i) cr_slot(i)
#define QK_CR_TEAM
shared uint v[4624]; /* cr_slot(4095) + 1 */
#include "qk_vk_convrot.glsl"

/* Codes e .. e+63 and their row's scale; zeros past the chunk. */
void fetch(uint e, out uvec4 q[4], out uint s)
{
    q[0] = q[1] = q[2] = q[3] = uvec4(0u);
    s = 0u;
    if (e < pc.total) {
        uint w = e >> 4;
        q[0] = src.w[w];
        q[1] = src.w[w + 1u];
        q[2] = src.w[w + 2u];
        q[3] = src.w[w + 3u];
        s = scale.w[pc.r0 + e / pc.cols];
    }
}

bool native_row(uint s)
{
    uint lo = 24u + pc.levels, hi = 247u - 2u * pc.levels; /* exponent fields */
    return ((s >> 23) & 0xFFu) - lo < hi - lo;
}

/* A native-path value (zero or normal, so never NaN) rounded to T's bits. */
uint narrow_native(uint b)
{
    if (QK_DT == DT_BF16)
        return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
    uint a = b & QK_F32_ABS;
    precise float up = uintBitsToFloat(a) + 0.75;
    uint sub = floatBitsToUint(up) - 0x3F400000u;
    uint nor = min((a - 0x38000000u + 0xFFFu + ((a >> 13) & 1u)) >> 13, 0x7C00u);
    return ((b >> 16) & 0x8000u) | (a < 0x38800000u ? sub : nor);
}

/* Two native-path values as one output word (16-bit dtypes), a low. */
uint narrow_pair(uint a, uint b)
{
#ifdef QK_F16_NATIVE
    if (QK_DT == DT_F16)
        return qk_f16_narrow2(a, b);
#endif
    return narrow_native(a) | (narrow_native(b) << 16);
}

/* 16 native values into elements el .. el+15. */
void store_run(uint el, uint r[16])
{
    if (QK_DT == DT_F32) {
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            dst.w[(el >> 2) + k] = uvec4(r[4u * k], r[4u * k + 1u], r[4u * k + 2u], r[4u * k + 3u]);
        return;
    }
    [[unroll]] for (uint h = 0u; h < 2u; h++) {
        uvec4 o;
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            o[k] = narrow_pair(r[8u * h + 2u * k], r[8u * h + 2u * k + 1u]);
        dst.w[(el >> 3) + h] = o;
    }
}

/* 16 exact-path values at positions p .. p+15, times 2^-L, into elements
 * el .. el+15. */
void store_exact(uint p, uint el)
{
    uint down = (127u - pc.levels) << 23;
    [[dont_unroll]] for (uint i = 0u; i < 16u; i += 2u) {
        uint a = qk_cr_mul(v[cr_slot(p + i)], down), b = qk_cr_mul(v[cr_slot(p + i + 1u)], down);
        if (QK_DT == DT_F32) {
            dst.w[(el + i) >> 2][(el + i) & 3u] = a;
            dst.w[(el + i + 1u) >> 2][(el + i + 1u) & 3u] = b;
        } else {
            dst.w[(el + i) >> 3][((el + i) >> 1) & 3u] = qk_pack_out(QK_DT, a, b);
        }
    }
}

/* Native path: q * s' (s' = s * 2^-L) and the levels of stride 1, 4, 16
 * (those below G) on the thread's 64 values. */
void first_levels(uvec4 q[4], float sp, out uint x[64])
{
    [[unroll]] for (uint k = 0u; k < 64u; k++) {
        uint w = q[k >> 4][(k >> 2) & 3u] ^ 0x80808080u;
        precise float c = uintBitsToFloat(0x4B000000u | ((w >> (8u * (k & 3u))) & 0xFFu)) - 8388736.0;
        precise float p = c * sp;
        x[k] = floatBitsToUint(p);
    }
    qk_cr_levels64(x, pc.group, false);
}

/* Exact path: the thread's 64 products into their slots (codes read again
 * from memory: no variable index into registers) and the levels below
 * min(G, 64) on them. */
void first_levels_exact(uint e, uint p, uint s)
{
    [[dont_unroll]] for (uint k = 0u; k < 64u; k++) {
        uint c = (src.w[(e + k) >> 4][((e + k) >> 2) & 3u] >> (8u * (k & 3u))) & 0xFFu;
        v[cr_slot(p + k)] = qk_cr_mul(floatBitsToUint(float(int(c << 24) >> 24)), s);
    }
    qk_cr_run_levels_exact(p, pc.group);
}

void main()
{
    /* Full subgroups: L runs over 0..63 and a team's four invocations
     * (L / 4) are consecutive ones of one subgroup. */
    uint L = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint j = L >> 2, t = L & 3u;
    uint step = gl_NumWorkGroups.x * gl_NumWorkGroups.y * CRD_SPAN;
    uint ws = 72u * L + j;                                  /* cr_slot(64 L) */
    uint rs = 289u * j + 16u * t + 8u * (t >> 1);           /* cr_slot(256 j + 16 t) */
    /* Rows of whole 256-value runs (G = 256 always) pass native values
     * through shared memory, so that a team stores 4 consecutive runs of
     * 16 at a time and not each thread 64 of its own (G = 64 stored so ran
     * at 42% of the copy on an H100, through the exchange at 93%); a team
     * then shares its row, so its native choice too. */
    bool xch = pc.cols % 256u == 0u;
    uvec4 qn[4];
    uint sn;
    fetch(qk_group_id() * CRD_SPAN + 64u * L, qn, sn);
    for (uint e0 = qk_group_id() * CRD_SPAN; e0 < pc.total; e0 += step) { /* uniform */
        uint e = e0 + 64u * L;
        bool mine = e < pc.total; /* the same for a team (the total is whole groups) */
        uvec4 q[4] = qn;
        uint s = sn;
        fetch(e + step, qn, sn);
        bool native = native_row(s);
        uint x[64];
        if (mine) {
            if (native) {
                first_levels(q, uintBitsToFloat(s - (pc.levels << 23)), x);
                if (xch) {
                    [[unroll]] for (uint k = 0u; k < 64u; k++)
                        v[ws + k + 8u * (k >> 5)] = x[k];
                } else {
                    [[unroll]] for (uint m = 0u; m < 4u; m++) {
                        uint r[16];
                        [[unroll]] for (uint i = 0u; i < 16u; i++)
                            r[i] = x[16u * m + i];
                        store_run(e + 16u * m, r);
                    }
                }
            } else {
                first_levels_exact(e, 64u * L, s);
                if (pc.group != 256u) {
                    [[dont_unroll]] for (uint m = 0u; m < 4u; m++)
                        store_exact(64u * L + 16u * m, e + 16u * m);
                }
            }
        }
        if (xch) {
            qk_cr_team_sync();
            uint et = e0 + 256u * j + 16u * t; /* the team's group, run 0 of this thread */
            if (mine) {
                if (native) {
                    [[unroll]] for (uint m = 0u; m < 4u; m++)
                        [[unroll]] for (uint i = 0u; i < 16u; i++)
                            x[16u * m + i] = v[rs + 72u * m + i];
                    if (pc.group == 256u) {
                        [[unroll]] for (uint i = 0u; i < 16u; i++)
                            qk_cr_h4(x[i], x[i + 16u], x[i + 32u], x[i + 48u]); /* stride 64 */
                    }
                    [[unroll]] for (uint m = 0u; m < 4u; m++) {
                        uint r[16];
                        [[unroll]] for (uint i = 0u; i < 16u; i++)
                            r[i] = x[16u * m + i];
                        store_run(et + 64u * m, r);
                    }
                } else if (pc.group == 256u) { /* G < 256: stored before the exchange */
                    uint pt = 256u * j + 16u * t;
                    [[dont_unroll]] for (uint i = 0u; i < 16u; i++)
                        qk_cr_h4_exact(pt + i, 64u);
                    [[dont_unroll]] for (uint m = 0u; m < 4u; m++)
                        store_exact(pt + 64u * m, et + 64u * m);
                }
            }
            qk_cr_team_sync(); /* the next step's stores to v come after these loads */
        }
    }
}
