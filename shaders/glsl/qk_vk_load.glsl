/* Element loads from the `src` input buffer (declare it first): element i of
 * a row-major f32/f16/bf16 tensor packed in uint words, widened to f32 bits. */
uint qk_load(uint dt, uint i)
{
    if (dt == DT_F32)
        return src.w[i];
    uint word = src.w[i >> 1];
    return qk_widen(dt, (i & 1u) != 0u ? (word >> 16) : (word & 0xFFFFu));
}

/* One output word from 1 (f32) or 2 (f16/bf16, low half first) f32 values. */
uint qk_pack_out(uint dt, uint v0, uint v1)
{
    if (dt == DT_F32)
        return v0;
    return qk_narrow(dt, v0) | (qk_narrow(dt, v1) << 16);
}

/* Elements e .. e+7 (e a multiple of 8; those at or past n read as +0),
 * with one load per word. */
void qk_load8(uint dt, uint e, uint n, out uint x[8])
{
    if (dt == DT_F32) {
        for (uint j = 0u; j < 8u; j++)
            x[j] = e + j < n ? src.w[e + j] : 0u;
        return;
    }
    for (uint j = 0u; j < 8u; j += 2u) {
        uint word = e + j < n ? src.w[(e + j) >> 1] : 0u;
        x[j] = qk_widen(dt, word & 0xFFFFu);
        x[j + 1u] = e + j + 1u < n ? qk_widen(dt, word >> 16) : 0u;
    }
}
