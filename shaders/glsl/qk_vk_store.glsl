/* Stores 8 f32 values as elements e .. e+7 of the `dst` output buffer in
 * dtype dt (e a multiple of 8; elements at or past n are not written, words
 * they share with earlier elements are, as zero). */
void qk_store8(uint dt, uint e, uint n, uint v[8])
{
    if (dt == DT_F32) {
        for (uint j = 0u; j < 8u; j++)
            if (e + j < n)
                dst.w[e + j] = v[j];
        return;
    }
    for (uint j = 0u; j < 8u; j += 2u)
        if (e + j < n)
            dst.w[(e + j) >> 1] = qk_narrow(dt, v[j]) | (e + j + 1u < n ? qk_narrow(dt, v[j + 1u]) << 16 : 0u);
}
