/* Correctly rounded f32 addition (IEEE-754, round to nearest even,
 * subnormals kept) in integer code, for devices whose native add may flush
 * subnormals. Written in the dialect-neutral style of qk_codec.h (its
 * QK_FN/QK_U32 macros), so tests/test_opencl.c can check it in C against
 * the host's own addition. */
#ifndef QK_F32_ADD_CL
#define QK_F32_ADD_CL

QK_FN QK_U32 qk_f32_add_soft(QK_U32 a, QK_U32 b)
{
    QK_U32 aa = a & QK_F32_ABS;
    QK_U32 ab = b & QK_F32_ABS;
    if (aa > QK_F32_INF)
        return a | 0x400000u;
    if (ab > QK_F32_INF)
        return b | 0x400000u;
    if (aa == QK_F32_INF)
        return (ab == QK_F32_INF && ((a ^ b) & QK_F32_SIGN) != 0u) ? QK_F32_QNAN : a;
    if (ab == QK_F32_INF)
        return b;
    if (aa == 0u)
        return (ab == 0u) ? (a & b) : b; /* -0 + -0 = -0, otherwise +0 */
    if (ab == 0u)
        return a;
    if (ab > aa) { /* order by magnitude: |a| >= |b| */
        QK_U32 t = a;
        a = b;
        b = t;
        t = aa;
        aa = ab;
        ab = t;
    }
    QK_U32 sign = a & QK_F32_SIGN;
    QK_I32 ea = QK_I(aa >> 23);
    QK_I32 eb = QK_I(ab >> 23);
    QK_U32 ma = (ea != 0) ? ((aa & 0x7FFFFFu) | 0x800000u) : aa;
    QK_U32 mb = (eb != 0) ? ((ab & 0x7FFFFFu) | 0x800000u) : ab;
    ea = (ea != 0) ? ea : 1;
    eb = (eb != 0) ? eb : 1;
    /* Three extra low bits (guard, round, sticky) suffice for RNE. */
    ma <<= 3;
    mb <<= 3;
    QK_I32 d = ea - eb;
    if (d >= 27) {
        mb = 1u;
    } else if (d > 0) {
        QK_U32 lost = mb & ((1u << QK_U(d)) - 1u);
        mb = (mb >> QK_U(d)) | QK_U(lost != 0u);
    }
    QK_U32 m = (((a ^ b) & QK_F32_SIGN) == 0u) ? (ma + mb) : (ma - mb);
    if (m == 0u)
        return 0u; /* exact cancellation: +0 */
    QK_I32 e = ea;
    if (m >= 0x8000000u) {
        m = (m >> 1) | (m & 1u);
        e += 1;
    } else {
        while (m < 0x4000000u && e > 1) {
            m <<= 1;
            e -= 1;
        }
    }
    QK_U32 low = m & 7u;
    m >>= 3;
    if (low > 4u || (low == 4u && (m & 1u) != 0u))
        m += 1u;
    if (m == 0x1000000u) {
        m >>= 1;
        e += 1;
    }
    if (e >= 255)
        return sign | QK_F32_INF;
    if (m < 0x800000u)
        return sign | m; /* subnormal (e == 1) */
    return sign | (QK_U(e) << 23) | (m & 0x7FFFFFu);
}

#endif
