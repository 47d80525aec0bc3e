/* 64-bit unsigned integers as uvec2(low, high) (double quant's exact sums). */
uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}
