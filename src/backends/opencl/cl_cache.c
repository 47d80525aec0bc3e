/* On-disk cache of OpenCL program binaries.
 *
 * Files live in $XDG_CACHE_HOME/qk/opencl (else ~/.cache/qk/opencl), named by
 * a hash of the key; the file repeats the whole key and a checksum of the
 * binary, so a corrupt, truncated or foreign file is ignored (and the program
 * is compiled from source). QK_OPENCL_CACHE=0 turns the cache off. Files are
 * written to a temporary name and renamed, so readers never see half a file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_internal.h"

#define MAGIC "QKCLBIN1"
#define MAX_BINARY ((size_t)256 << 20)

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int cache_enabled(void)
{
    const char *v = getenv("QK_OPENCL_CACHE");
    return !(v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "no") == 0));
}

/* mkdir -p of the cache directory; 0 on success. */
static int cache_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg && xdg[0] == '/')
        w = snprintf(out, n, "%s/qk/opencl", xdg);
    else if (home && home[0])
        w = snprintf(out, n, "%s/.cache/qk/opencl", home);
    else
        return -1;
    if (w < 0 || (size_t)w >= n)
        return -1;
    for (char *p = out + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(out, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(out, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int cache_path(const char *key, size_t key_len, char *out, size_t n)
{
    char dir[1024];
    if (!cache_enabled() || cache_dir(dir, sizeof dir) != 0)
        return -1;
    int w = snprintf(out, n, "%s/%016llx.bin", dir, (unsigned long long)fnv1a(key, key_len));
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

unsigned char *qcl_cache_load(const char *key, size_t key_len, size_t *size)
{
    char path[1100];
    if (cache_path(key, key_len, path, sizeof path) != 0)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *bin = NULL, *stored_key = NULL;
    char magic[8];
    uint64_t klen, blen, sum;
    int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0 &&
             fread(&klen, sizeof klen, 1, f) == 1 && klen == key_len &&
             (stored_key = malloc(key_len + 1)) != NULL &&
             fread(stored_key, 1, key_len, f) == key_len && memcmp(stored_key, key, key_len) == 0 &&
             fread(&blen, sizeof blen, 1, f) == 1 && blen > 0 && blen <= MAX_BINARY &&
             fread(&sum, sizeof sum, 1, f) == 1 && (bin = malloc(blen)) != NULL &&
             fread(bin, 1, blen, f) == blen && fgetc(f) == EOF && fnv1a(bin, blen) == sum;
    fclose(f);
    free(stored_key);
    if (!ok) {
        free(bin);
        return NULL;
    }
    *size = (size_t)blen;
    return bin;
}

int qcl_cache_where(char *dir, size_t n) { return cache_enabled() && cache_dir(dir, n) == 0 ? 0 : -1; }

void qcl_cache_store(const char *key, size_t key_len, const unsigned char *bin, size_t size)
{
    char path[1100], tmp[1200];
    if (size == 0 || size > MAX_BINARY || cache_path(key, key_len, path, sizeof path) != 0)
        return;
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return;
    uint64_t klen = key_len, blen = size, sum = fnv1a(bin, size);
    int ok = fwrite(MAGIC, 1, 8, f) == 8 && fwrite(&klen, sizeof klen, 1, f) == 1 &&
             fwrite(key, 1, key_len, f) == key_len && fwrite(&blen, sizeof blen, 1, f) == 1 &&
             fwrite(&sum, sizeof sum, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        remove(tmp);
}
