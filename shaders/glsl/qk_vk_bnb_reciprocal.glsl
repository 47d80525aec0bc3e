/* The reciprocal of a block's absmax that bitsandbytes' quantize kernel
 * applies (qk_bnb_reciprocal): the measured rcp.approx tables for bf16 and
 * f16 input (VB_TABLE words 0 and 128), the exact quotient for f32. Needs
 * the `tables` binding and QK_DT. */
uint bnb_reciprocal(uint absmax)
{
    if (QK_DT == DT_BF16)
        return qk_rcp_from_table(tables.w[(absmax >> 16) & 0x7Fu], absmax);
    if (QK_DT == DT_F16)
        return qk_rcp_from_table(tables.w[128u + ((absmax >> 13) & 0x3FFu)], absmax);
    if ((absmax & QK_F32_INF) == 0u)
        return (absmax & QK_F32_SIGN) | QK_F32_INF;
    return qk_f32_ftz(qk_div(QK_F32_ONE, absmax));
}
