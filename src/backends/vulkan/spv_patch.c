/* Build-time SPIR-V patcher: declares the float controls qk's shaders rely on.
 *
 * glslang (and glslc) can express only one spirv_execution_mode per shader,
 * so the declarations are added here, word by word, to the compiled module:
 *   OpCapability RoundingModeRTE, OpCapability SignedZeroInfNanPreserve,
 *   OpExecutionMode %main RoundingModeRTE 32,
 *   OpExecutionMode %main SignedZeroInfNanPreserve 32.
 * The module must be SPIR-V 1.4 or later (float controls are core there).
 * usage: spv_patch IN.spv OUT.spv */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OP_CAPABILITY = 17,
    OP_ENTRY_POINT = 15,
    OP_EXECUTION_MODE = 16,
    CAP_SIGNED_ZERO_INF_NAN_PRESERVE = 4466,
    CAP_ROUNDING_MODE_RTE = 4467,
    EM_SIGNED_ZERO_INF_NAN_PRESERVE = 4461,
    EM_ROUNDING_MODE_RTE = 4462,
    SPIRV_MAGIC = 0x07230203,
};

static int fail(const char *msg, const char *path)
{
    fprintf(stderr, "spv_patch: %s: %s\n", path, msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fail("usage: spv_patch IN.spv OUT.spv", "arguments");
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL)
        return fail("cannot open", argv[1]);
    static uint32_t in[1 << 20], out[(1 << 20) + 16];
    size_t n = fread(in, 4, sizeof in / 4, f);
    fclose(f);
    if (n < 5 || n == sizeof in / 4 || in[0] != SPIRV_MAGIC)
        return fail("not a SPIR-V module (or too large)", argv[1]);
    if (((in[1] >> 16) & 0xFF) != 1 || ((in[1] >> 8) & 0xFF) < 4)
        return fail("needs SPIR-V 1.4 or later (compile with --target-env=vulkan1.2)", argv[1]);
    size_t last_cap = 0, last_mode = 0, entry_id = 0;
    int entries = 0;
    for (size_t i = 5; i < n;) {
        uint32_t op = in[i] & 0xFFFF, wc = in[i] >> 16;
        if (wc == 0 || i + wc > n)
            return fail("malformed instruction stream", argv[1]);
        if (op == OP_CAPABILITY)
            last_cap = i + wc;
        if (op == OP_ENTRY_POINT) {
            entry_id = in[i + 2];
            entries++;
            last_mode = i + wc; /* execution modes follow the entry points */
        }
        if (op == OP_EXECUTION_MODE || op == 331 /* OpExecutionModeId */) {
            if ((op == OP_EXECUTION_MODE) && (in[i + 2] == EM_ROUNDING_MODE_RTE))
                return fail("already patched", argv[1]);
            last_mode = i + wc;
        }
        i += wc;
    }
    if (entries != 1 || last_cap == 0)
        return fail("expected one entry point and a capability section", argv[1]);
    size_t o = 0;
    memcpy(out, in, last_cap * 4);
    o = last_cap;
    out[o++] = (2u << 16) | OP_CAPABILITY;
    out[o++] = CAP_ROUNDING_MODE_RTE;
    out[o++] = (2u << 16) | OP_CAPABILITY;
    out[o++] = CAP_SIGNED_ZERO_INF_NAN_PRESERVE;
    memcpy(out + o, in + last_cap, (last_mode - last_cap) * 4);
    o += last_mode - last_cap;
    out[o++] = (4u << 16) | OP_EXECUTION_MODE;
    out[o++] = (uint32_t)entry_id;
    out[o++] = EM_ROUNDING_MODE_RTE;
    out[o++] = 32;
    out[o++] = (4u << 16) | OP_EXECUTION_MODE;
    out[o++] = (uint32_t)entry_id;
    out[o++] = EM_SIGNED_ZERO_INF_NAN_PRESERVE;
    out[o++] = 32;
    memcpy(out + o, in + last_mode, (n - last_mode) * 4);
    o += n - last_mode;
    f = fopen(argv[2], "wb");
    if (f == NULL || fwrite(out, 4, o, f) != o || fclose(f) != 0)
        return fail("cannot write", argv[2]);
    return 0;
}
