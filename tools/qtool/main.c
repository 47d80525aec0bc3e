/* qtool: command line front end of libqk. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "qk/qk.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qtool <command> [options]\n"
            "\n"
            "commands:\n"
            "  devices                      list backends and devices\n"
            "  crosscheck [--large] [--crafted] [--backend B]\n"
            "                               compare every backend's bytes with the CPU reference\n"
            "  make-model OUT.safetensors [--blocks N] [--width W] [--dtype bf16|f16|f32]\n"
            "                               write a synthetic transformer-like model\n"
            "  quality MODEL.safetensors [--format F]... [--backend B] [--threads N]\n"
            "                               quantize every 2-D weight, report size and error\n"
            "  bench [--backend B] [--format F]... [--dtype bf16|f16|f32] [--mib N] [--cols N]\n"
            "        [--iters N] [--direction quantize|dequantize|both] [--threads N]\n"
            "                               GB/s per format and direction vs a buffer copy\n"
            "  convert IN -o OUT --format F [--backend B] [--preset P] [--fallback float8_e4m3fn|bf16]\n"
            "        [--exclude RE]... [--include RE]... [--layers layers.json] [--block-size N]\n"
            "        [--double-quant] [--convrot [--convrot-group-size G]] [--max-shard-size SIZE]\n"
            "        [--report report.json] [--quality] [--dry-run [--template]]\n"
            "                               quantize a model into the ComfyUI or bitsandbytes layout\n"
            "  inspect FILE [--json] [--brief]\n"
            "                               tensors, dtypes, quantized layers, sizes, metadata\n"
            "  verify ORIG QUANT [--min-snr DB] [--max-rel-l2 X] [--report FILE]\n"
            "                               dequantize through qk and report per-layer errors\n"
            "  dequantize QUANT -o OUT [--dtype bf16|f16|f32]\n"
            "                               every quantized layer back to a plain tensor\n"
            "  preset from-gguf MODEL.gguf -o layers.json [--format F] [--format8 F|skip]\n"
            "        [--default skip|convert] [--names auto|identity|llama]\n"
            "                               a --layers plan from a GGUF file's tensor types\n"
            "  version                      print the library version\n"
            "\n"
            "docs/QTOOL.md documents every command and the file layouts written.\n");
}

static int vreport(int code, const char *fmt, va_list ap)
{
    fputs("qtool: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return code;
}

int qtool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vreport(2, fmt, ap);
    va_end(ap);
    return rc;
}

int qtool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vreport(1, fmt, ap);
    va_end(ap);
    return rc;
}

/* Long one-time library work (a cold OpenCL compile) is said on stderr as it starts. */
static void print_notice(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "qtool: %s\n", message);
}

int main(int argc, char **argv)
{
    qk_set_notice_handler(print_notice, NULL);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("qtool %s\n", qk_version(NULL, NULL, NULL));
        return 0;
    }
    if (strcmp(cmd, "devices") == 0)
        return cmd_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "crosscheck") == 0)
        return cmd_crosscheck(argc - 1, argv + 1);
    if (strcmp(cmd, "make-model") == 0)
        return cmd_make_model(argc - 1, argv + 1);
    if (strcmp(cmd, "quality") == 0)
        return cmd_quality(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "dequantize") == 0)
        return cmd_dequantize(argc - 1, argv + 1);
    if (strcmp(cmd, "preset") == 0)
        return cmd_preset(argc - 1, argv + 1);
    usage(stderr);
    return qtool_usage_error("unknown command '%s'", cmd);
}
