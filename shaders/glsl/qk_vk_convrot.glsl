/* ConvRot pieces shared by convrot.comp and the fused row quantize
 * (qk_vk_convrot_row_quantize.glsl), after src/ref/convrot.c: the
 * reference's H4 butterfly, one level per base-4 digit, lowest first.
 *
 * Native form: two levels at a time on 16 values a thread holds; its sums
 * are the reference's only where the caller has checked the values' range
 * (each shader says which). Exact form: every sum by qk_add on the
 * includer's `shared uint v[]`, which holds element i at v[QK_CR_SLOT(i)]:
 * qk_cr_at unless the includer defines its own layout first. */

/* Element i at i + i / 16: a thread's 16 consecutive values (lid * 16 + j)
 * and a thread's values 16 apart (t + 16 k within 256) both fall in 32
 * distinct banks across a warp. */
uint qk_cr_at(uint i) { return i + (i >> 4); }
#ifndef QK_CR_SLOT
#define QK_CR_SLOT(i) qk_cr_at(i)
#endif
/* Element i of the exact form's values: v[QK_CR_SLOT(i)] unless the
 * includer keeps them otherwise (convrot_quantize.comp: 16-byte words). */
#ifndef QK_CR_LOAD
#define QK_CR_LOAD(i) v[QK_CR_SLOT(i)]
#define QK_CR_STORE(i, x) v[QK_CR_SLOT(i)] = (x)
#endif

#ifdef QK_CR_TEAM
/* A team's barrier (QK_CR_TEAM: four consecutive invocations of a full
 * subgroup exchanging values through shared memory): its subgroup's,
 * ordering shared memory only (global stores before it need not
 * complete: subgroupBarrier() would order every storage class). */
void qk_cr_team_sync()
{
    controlBarrier(gl_ScopeSubgroup, gl_ScopeSubgroup, gl_StorageSemanticsShared, gl_SemanticsAcquireRelease);
}
#endif

/* The reference's H4 butterfly on (a, b, c, d), native sums. */
void qk_cr_h4(inout uint a, inout uint b, inout uint c, inout uint d)
{
    float fa = uintBitsToFloat(a), fb = uintBitsToFloat(b), fc = uintBitsToFloat(c), fd = uintBitsToFloat(d);
    precise float ab = fa + fb;
    precise float o0 = (ab + fc) - fd;
    precise float o1 = (ab - fc) + fd;
    precise float o2 = ((fa - fb) + fc) + fd;
    precise float o3 = ((fb - fa) + fc) + fd;
    a = floatBitsToUint(o0);
    b = floatBitsToUint(o1);
    c = floatBitsToUint(o2);
    d = floatBitsToUint(o3);
}

/* qk_cr_h4 where no byte depends on a zero's sign (quantize: the amax
 * and the codes see magnitudes): (b - a) + c as c - (a - b), one sum
 * fewer. RN is symmetric, so b - a and -(a - b) are equal but for the
 * sign of a zero, and so is every result (a zero's sign never changes a
 * nonzero sum). */
void qk_cr_h4_zeros_free(inout uint a, inout uint b, inout uint c, inout uint d)
{
    float fa = uintBitsToFloat(a), fb = uintBitsToFloat(b), fc = uintBitsToFloat(c), fd = uintBitsToFloat(d);
    precise float ab = fa + fb;
    precise float amb = fa - fb;
    precise float o0 = (ab + fc) - fd;
    precise float o1 = (ab - fc) + fd;
    precise float o2 = (amb + fc) + fd;
    precise float o3 = (fc - amb) + fd;
    a = floatBitsToUint(o0);
    b = floatBitsToUint(o1);
    c = floatBitsToUint(o2);
    d = floatBitsToUint(o3);
}

/* The butterfly of the native levels: qk_cr_h4, or with zeros_free
 * (a constant) qk_cr_h4_zeros_free. */
void qk_cr_h4_native(inout uint a, inout uint b, inout uint c, inout uint d, bool zeros_free)
{
    if (zeros_free)
        qk_cr_h4_zeros_free(a, b, c, d);
    else
        qk_cr_h4(a, b, c, d);
}

/* x[k] holds value k * s of a run (s = 1, 16 or 256 apart): the level of
 * stride s, then (both) that of stride 4 s. */
void qk_cr_levels16(inout uint x[16], bool both)
{
    [[unroll]] for (uint m = 0u; m < 4u; m++)
        qk_cr_h4(x[4u * m], x[4u * m + 1u], x[4u * m + 2u], x[4u * m + 3u]);
    if (both) {
        [[unroll]] for (uint m = 0u; m < 4u; m++)
            qk_cr_h4(x[m], x[m + 4u], x[m + 8u], x[m + 12u]);
    }
}

/* x[k] holds value k of a 64-value run: the levels of stride 1, 4 and
 * 16 that groups of g have (native sums, qk_cr_h4_native). */
void qk_cr_levels64(inout uint x[64], uint g, bool zeros_free)
{
    [[unroll]] for (uint m = 0u; m < 16u; m++)
        qk_cr_h4_native(x[4u * m], x[4u * m + 1u], x[4u * m + 2u], x[4u * m + 3u], zeros_free);
    if (g > 4u) {
        [[unroll]] for (uint b = 0u; b < 4u; b++)
            [[unroll]] for (uint m = 0u; m < 4u; m++)
                qk_cr_h4_native(x[16u * b + m], x[16u * b + m + 4u], x[16u * b + m + 8u], x[16u * b + m + 12u],
                                zeros_free);
    }
    if (g > 16u) {
        [[unroll]] for (uint i = 0u; i < 16u; i++)
            qk_cr_h4_native(x[i], x[i + 16u], x[i + 32u], x[i + 48u], zeros_free);
    }
}

/* The reference's f32 sum, difference and product as its x86-64 host
 * gives them, NaN results included: a NaN operand comes back quieted (the
 * first one first), an invalid operation (Inf - Inf, 0 * Inf) gives the
 * default NaN 0xFFC00000; other results are qk_add's and qk_mul's. Only
 * dequantize of crafted parts (NaN or Inf scales) meets these rules:
 * quantize refuses NaN and Inf. */
uint qk_cr_x86_nan(uint r, uint a, uint b)
{
    if ((r & QK_F32_ABS) <= QK_F32_INF)
        return r;
    return qk_f32_is_nan(a) != 0u ? (a | 0x400000u) : qk_f32_is_nan(b) != 0u ? (b | 0x400000u) : 0xFFC00000u;
}

uint qk_cr_add(uint a, uint b) { return qk_cr_x86_nan(qk_add(a, b), a, b); }
uint qk_cr_sub(uint a, uint b) { return qk_cr_x86_nan(qk_sub(a, b), a, b); }
uint qk_cr_mul(uint a, uint b) { return qk_cr_x86_nan(qk_mul(a, b), a, b); }

/* The first element of butterfly u of the level of stride s, in groups
 * of g (u counts the butterflies of whole groups from element 0). */
uint qk_cr_first(uint u, uint s, uint g)
{
    uint quarter = g / 4u, t = u % quarter;
    return (u / quarter) * g + (t / s) * 4u * s + t % s;
}

/* The butterfly on v's elements p, p + s, p + 2 s, p + 3 s, every sum
 * exact (qk_cr_add: subnormal, infinite and NaN values included). */
void qk_cr_h4_exact(uint p, uint s)
{
    uint a = QK_CR_LOAD(p), b = QK_CR_LOAD(p + s), c = QK_CR_LOAD(p + 2u * s), d = QK_CR_LOAD(p + 3u * s);
    uint ab = qk_cr_add(a, b);
    QK_CR_STORE(p, qk_cr_sub(qk_cr_add(ab, c), d));
    QK_CR_STORE(p + s, qk_cr_add(qk_cr_sub(ab, c), d));
    QK_CR_STORE(p + 2u * s, qk_cr_add(qk_cr_add(qk_cr_sub(a, b), c), d));
    QK_CR_STORE(p + 3u * s, qk_cr_add(qk_cr_add(qk_cr_sub(b, a), c), d));
}

/* qk_cr_h4_exact's outputs one after another, for the quantize shaders:
 * with the four outputs' eleven soft additions in plain sight the compiler
 * may run them side by side (on an H100 fewer registers and time than
 * qk_cr_h4_exact: convrot_quantize256.comp). Every difference is a sum
 * with the operand's sign flipped (RN(x - y) = RN(x + (-y)), b - a as
 * -a + b), so only a NaN's payload may differ from qk_cr_add's, and a
 * quantize call with a NaN fails whatever its bits; dequantize output
 * keeps NaN payloads, so it stays on qk_cr_h4_exact. */
void qk_cr_h4_exact_lean(uint p, uint s)
{
    uint a = QK_CR_LOAD(p), b = QK_CR_LOAD(p + s), c = QK_CR_LOAD(p + 2u * s), d = QK_CR_LOAD(p + 3u * s);
    [[dont_unroll]] for (uint k = 0u; k < 4u; k++) { /* (ab + c) - d, (ab - c) + d, ((a - b) + c) + d, ((b - a) + c) + d */
        uint x = qk_add(k == 3u ? a ^ QK_F32_SIGN : a, k == 2u ? b ^ QK_F32_SIGN : b);
        x = qk_add(x, k == 1u ? c ^ QK_F32_SIGN : c);
        QK_CR_STORE(p + k * s, qk_add(x, k == 0u ? d ^ QK_F32_SIGN : d));
    }
}

/* The levels below min(g, 64) on the 64 values from element p (one
 * thread's run), exactly: no other invocation touches them. */
void qk_cr_run_levels_exact(uint p, uint g)
{
    uint gr = min(g, 64u);
    [[dont_unroll]] for (uint st = 1u; st < gr; st *= 4u)
        [[dont_unroll]] for (uint u = 0u; u < 16u; u++)
            qk_cr_h4_exact(p + qk_cr_first(u, st, gr), st);
}

/* Every level of groups of g over v's elements [0, cnt) (whole groups),
 * exactly, by n invocations (lid < n) with a barrier after each level:
 * uniform control flow only. The scaling by 2^-levels is the caller's. */
void qk_cr_levels_exact(uint lid, uint n, uint cnt, uint g)
{
    for (uint s = 1u; s < g; s *= 4u) {
        for (uint u = lid; u < cnt / 4u; u += n)
            qk_cr_h4_exact(qk_cr_first(u, s, g), s);
        barrier();
    }
}
