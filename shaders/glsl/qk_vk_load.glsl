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
