/* 64-bit unsigned integers as uvec2(low, high) (double quant's exact sums). */
uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}

/* a << s for s < 64 (GLSL leaves shifts by 32 or more undefined) */
uvec2 shl64(uvec2 a, uint s)
{
    if (s == 0u)
        return a;
    if (s < 32u)
        return uvec2(a.x << s, (a.y << s) | (a.x >> (32u - s)));
    return uvec2(0u, a.x << (s - 32u));
}

/* a >> r for 0 <= r < 32, in shifts GLSL defines */
uvec2 shr_small(uvec2 a, uint r) { return uvec2((a.x >> r) | ((a.y << 1) << (31u - r)), a.y >> r); }

/* The index of a's highest set bit, -1 for 0. */
int msb64(uvec2 a) { return a.y != 0u ? 32 + findMSB(a.y) : findMSB(a.x); }
