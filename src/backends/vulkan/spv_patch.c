/* Build-time SPIR-V patcher: declares the float controls qk's shaders rely on,
 * and forbids contraction on every float operation.
 *
 * glslang (and glslc) can express only one spirv_execution_mode per shader,
 * so the declarations are added here, word by word, to the compiled module:
 *   OpCapability RoundingModeRTE, OpCapability SignedZeroInfNanPreserve,
 *   OpExecutionMode %main RoundingModeRTE 32,
 *   OpExecutionMode %main SignedZeroInfNanPreserve 32,
 * and the same two modes for 16 bits where the module has a 16-bit float
 * type (the _f16n builds, whose f32 -> f16 conversions must round to
 * nearest even and keep Inf and NaN; qk_f16_narrow2 in qk_vk.glsl).
 * Every OpFAdd/OpFSub/OpFMul/OpFDiv/OpFRem/OpFMod/OpFNegate/
 * OpVectorTimesScalar/OpDot result also gets NoContraction (where `precise`
 * has not put it already), so no driver may fuse a product and a sum into
 * an fma anywhere, whatever the GLSL marked. A module that holds an fma
 * (GLSL.std.450 Fma) is refused: qk's shaders write none, and spirv-opt's
 * loop unroller (glslc -O, SPIRV-Tools 2023.1) copied loop bodies without
 * their NoContraction and then contracted them, which is why the build does
 * not optimize.
 * With --denorm-preserve-16 (the _f16d builds) also OpCapability
 * DenormPreserve and OpExecutionMode %main DenormPreserve 16: f16
 * denormals in and out of 16-bit conversions are kept, not flushed.
 * The module must be SPIR-V 1.4 or later (float controls are core there).
 * usage: spv_patch [--denorm-preserve-16] IN.spv OUT.spv */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OP_CAPABILITY = 17,
    OP_ENTRY_POINT = 15,
    OP_EXECUTION_MODE = 16,
    OP_EXT_INST_IMPORT = 11,
    OP_EXT_INST = 12,
    OP_DECORATE = 71,
    OP_TYPE_FLOAT = 22,
    DECORATION_NO_CONTRACTION = 42,
    GLSL_STD_450_FMA = 50,
    CAP_DENORM_PRESERVE = 4464,
    CAP_SIGNED_ZERO_INF_NAN_PRESERVE = 4466,
    CAP_ROUNDING_MODE_RTE = 4467,
    EM_DENORM_PRESERVE = 4459,
    EM_SIGNED_ZERO_INF_NAN_PRESERVE = 4461,
    EM_ROUNDING_MODE_RTE = 4462,
    SPIRV_MAGIC = 0x07230203,
};

/* Float arithmetic whose result NoContraction may decorate. */
static int is_float_arith(uint32_t op)
{
    switch (op) {
    case 127: /* OpFNegate */
    case 129: /* OpFAdd */
    case 131: /* OpFSub */
    case 133: /* OpFMul */
    case 136: /* OpFDiv */
    case 138: /* OpFRem */
    case 141: /* OpFMod */
    case 142: /* OpVectorTimesScalar */
    case 148: /* OpDot */
        return 1;
    default: return 0;
    }
}

/* Types, constants and global variables: the annotations end before the first. */
static int starts_declarations(uint32_t op) { return (op >= 19 && op <= 39) || (op >= 41 && op <= 52) || op == 59; }

/* OpExecutionMode RoundingModeRTE and SignedZeroInfNanPreserve for floats
 * of `width` bits at out[o]; returns the new end. */
static size_t put_float_modes(uint32_t *out, size_t o, uint32_t entry, uint32_t width)
{
    const uint32_t modes[2] = {EM_ROUNDING_MODE_RTE, EM_SIGNED_ZERO_INF_NAN_PRESERVE};
    for (int k = 0; k < 2; k++) {
        out[o++] = (4u << 16) | OP_EXECUTION_MODE;
        out[o++] = entry;
        out[o++] = modes[k];
        out[o++] = width;
    }
    return o;
}

static int fail(const char *msg, const char *path)
{
    fprintf(stderr, "spv_patch: %s: %s\n", path, msg);
    return 1;
}

int main(int argc, char **argv)
{
    int denorms16 = argc == 4 && strcmp(argv[1], "--denorm-preserve-16") == 0;
    if (argc != 3 + denorms16)
        return fail("usage: spv_patch [--denorm-preserve-16] IN.spv OUT.spv", "arguments");
    argv += denorms16;
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL)
        return fail("cannot open", argv[1]);
    static uint32_t in[1 << 20];
    size_t n = fread(in, 4, sizeof in / 4, f);
    fclose(f);
    if (n < 5 || n == sizeof in / 4 || in[0] != SPIRV_MAGIC)
        return fail("not a SPIR-V module (or too large)", argv[1]);
    if (((in[1] >> 16) & 0xFF) != 1 || ((in[1] >> 8) & 0xFF) < 4)
        return fail("needs SPIR-V 1.4 or later (compile with --target-env=vulkan1.2)", argv[1]);
    uint32_t bound = in[3];
    unsigned char *decorated = calloc(bound ? bound : 1, 1); /* ids already NoContraction */
    uint32_t *arith = malloc(n * sizeof *arith);             /* float results to decorate */
    if (decorated == NULL || arith == NULL)
        return fail("out of memory", argv[1]);
    size_t last_cap = 0, last_mode = 0, entry_id = 0, decl = 0, narith = 0;
    uint32_t glsl_std = 0;
    int entries = 0, half = 0;
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
        if (op == OP_EXT_INST_IMPORT && wc >= 3 && strncmp((const char *)&in[i + 2], "GLSL.std.450", 4 * (wc - 2)) == 0)
            glsl_std = in[i + 1];
        if (op == OP_EXT_INST && wc >= 5 && in[i + 3] == glsl_std && in[i + 4] == GLSL_STD_450_FMA)
            return fail("holds an fma (GLSL.std.450 Fma), which qk's shaders never write: an optimizer "
                        "contracted a product and a sum (build without glslc -O)",
                        argv[1]);
        if (op == OP_DECORATE && wc >= 3 && in[i + 2] == DECORATION_NO_CONTRACTION && in[i + 1] < bound)
            decorated[in[i + 1]] = 1;
        if (op == OP_TYPE_FLOAT && wc >= 3 && in[i + 2] == 16)
            half = 1;
        if (decl == 0 && starts_declarations(op))
            decl = i;
        if (is_float_arith(op) && wc >= 3)
            arith[narith++] = in[i + 2];
        i += wc;
    }
    if (entries != 1 || last_cap == 0 || decl < last_mode)
        return fail("expected one entry point, a capability section and declarations after them", argv[1]);
    if (denorms16 && !half)
        return fail("--denorm-preserve-16 on a module without a 16-bit float type", argv[1]);
    uint32_t *out = malloc((n + 32 + 3 * narith) * sizeof *out);
    if (out == NULL)
        return fail("out of memory", argv[1]);
    size_t o = 0;
    memcpy(out, in, last_cap * 4);
    o = last_cap;
    out[o++] = (2u << 16) | OP_CAPABILITY;
    out[o++] = CAP_ROUNDING_MODE_RTE;
    out[o++] = (2u << 16) | OP_CAPABILITY;
    out[o++] = CAP_SIGNED_ZERO_INF_NAN_PRESERVE;
    if (denorms16) {
        out[o++] = (2u << 16) | OP_CAPABILITY;
        out[o++] = CAP_DENORM_PRESERVE;
    }
    memcpy(out + o, in + last_cap, (last_mode - last_cap) * 4);
    o += last_mode - last_cap;
    o = put_float_modes(out, o, (uint32_t)entry_id, 32);
    if (half)
        o = put_float_modes(out, o, (uint32_t)entry_id, 16);
    if (denorms16) {
        out[o++] = (4u << 16) | OP_EXECUTION_MODE;
        out[o++] = (uint32_t)entry_id;
        out[o++] = EM_DENORM_PRESERVE;
        out[o++] = 16;
    }
    memcpy(out + o, in + last_mode, (decl - last_mode) * 4); /* debug names and annotations */
    o += decl - last_mode;
    for (size_t k = 0; k < narith; k++)
        if (arith[k] < bound && !decorated[arith[k]]) {
            decorated[arith[k]] = 1;
            out[o++] = (3u << 16) | OP_DECORATE;
            out[o++] = arith[k];
            out[o++] = DECORATION_NO_CONTRACTION;
        }
    memcpy(out + o, in + decl, (n - decl) * 4);
    o += n - decl;
    f = fopen(argv[2], "wb");
    if (f == NULL || fwrite(out, 4, o, f) != o || fclose(f) != 0)
        return fail("cannot write", argv[2]);
    free(out);
    free(arith);
    free(decorated);
    return 0;
}
