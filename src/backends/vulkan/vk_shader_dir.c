/* Shader variants for tuning: with QK_VULKAN_SHADER_DIR=<dir>, a pipeline
 * whose build has a file <dir>/<name>.spv (name as QK_VULKAN_PIPELINE_STATS
 * prints it, e.g. convrot_quantize256_f16n) is made from that file instead
 * of the embedded SPIR-V. Variants of a shader can then be timed side by
 * side, one process each, on one build of the library: a GPU machine's call
 * builds once. The file must come from the same steps as the embedded code
 * (glslc, qk-spv-patch, spirv-val; tools/vk-variant.sh): unpatched SPIR-V
 * lacks the float controls exactness rests on. A line on stderr names every
 * file taken, so no result is mistaken for the embedded shader's. */
#include <stdio.h>
#include <stdlib.h>

#include "vk_internal.h"

qk_status qk_vk_shader_file(const char *name, uint32_t **words, size_t *size)
{
    *words = NULL;
    const char *dir = getenv("QK_VULKAN_SHADER_DIR");
    if (dir == NULL || *dir == '\0')
        return QK_OK;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s.spv", dir, name) >= (int)sizeof path)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "QK_VULKAN_SHADER_DIR: path too long");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return QK_OK; /* no variant of this shader: the embedded one */
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint32_t *w = n > 0 && n % 4 == 0 ? malloc((size_t)n) : NULL;
    int ok = w != NULL && fseek(f, 0, SEEK_SET) == 0 && fread(w, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok || w[0] != 0x07230203u) { /* SPIR-V's magic number */
        free(w);
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "QK_VULKAN_SHADER_DIR: %s is not a readable SPIR-V module", path);
    }
    fprintf(stderr, "qk vulkan: pipeline %s from %s (QK_VULKAN_SHADER_DIR)\n", name, path);
    *words = w;
    *size = (size_t)n;
    return QK_OK;
}
