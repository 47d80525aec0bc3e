/* Element loads from the `src` input buffer, declared as uvec4 words
 * (bindings are rounded up to whole 16-byte units): element i of a
 * row-major f32/f16/bf16 tensor, widened to f32 bits. */
uint qk_load(uint dt, uint i)
{
    if (dt == DT_F32)
        return src.w[i >> 2][i & 3u];
    uint word = src.w[i >> 3][(i >> 1) & 3u];
    return qk_widen(dt, (i & 1u) != 0u ? (word >> 16) : (word & 0xFFFFu));
}

/* One output word from 1 (f32) or 2 (f16/bf16, low half first) f32 values. */
uint qk_pack_out(uint dt, uint v0, uint v1)
{
    if (dt == DT_F32)
        return v0;
    return qk_narrow2(dt, v0, v1);
}

/* The raw 16-bit elements e .. e+7 of f16/bf16 input (e a multiple of 8),
 * element 2k in the low half of word k; those at or past n read as +0. */
uvec4 qk_load16x8(uint e, uint n)
{
    if (e + 8u <= n)
        return src.w[e >> 3];
    uvec4 q = uvec4(0u);
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        if (e + 2u * k < n)
            q[k] = src.w[e >> 3][k] & (e + 2u * k + 1u < n ? 0xFFFFFFFFu : 0xFFFFu);
    return q;
}

/* Elements e .. e+7 (e a multiple of 8; those at or past n read as +0): a
 * whole vector with one (f16/bf16) or two (f32) 16-byte loads. */
void qk_load8(uint dt, uint e, uint n, out uint x[8])
{
    if (dt == DT_F32) {
        if (e + 8u <= n) {
            uvec4 a = src.w[e >> 2], b = src.w[(e >> 2) + 1u];
            x = uint[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
            return;
        }
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            x[j] = e + j < n ? src.w[(e + j) >> 2][(e + j) & 3u] : 0u;
        return;
    }
    uvec4 q = qk_load16x8(e, n);
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        x[2u * k] = qk_widen(dt, q[k] & 0xFFFFu);
        x[2u * k + 1u] = qk_widen(dt, q[k] >> 16);
    }
}

/* Elements c0 .. c0+7 (c0 a multiple of 8) of row r of a rows x cols
 * tensor, +0 past the row or the tensor: one qk_load8 when cols is a
 * multiple of 8, element by element otherwise. */
void qk_load_row8(uint dt, uint rows, uint cols, uint r, uint c0, out uint x[8])
{
    if (r < rows && c0 < cols && (cols & 7u) == 0u) {
        qk_load8(dt, r * cols + c0, r * cols + cols, x);
        return;
    }
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        x[j] = r < rows && c0 + j < cols ? qk_load(dt, r * cols + c0 + j) : 0u;
}
