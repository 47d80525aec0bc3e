/* GGUF reader. Layout (little-endian): "GGUF", u32 version, u64 tensor
 * count, u64 kv count, kvs, tensor infos, padding to the alignment, data. */
#include "gguf.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ggml_type: name, elements per block, bytes per block, nominal bits. */
typedef struct {
    const char *name;
    uint32_t block, bytes;
    int bits;
} type_info;

static const type_info types[] = {
    [0] = {"F32", 1, 4, 32},        [1] = {"F16", 1, 2, 16},       [2] = {"Q4_0", 32, 18, 4},
    [3] = {"Q4_1", 32, 20, 4},      [6] = {"Q5_0", 32, 22, 5},     [7] = {"Q5_1", 32, 24, 5},
    [8] = {"Q8_0", 32, 34, 8},      [9] = {"Q8_1", 32, 40, 8},     [10] = {"Q2_K", 256, 84, 2},
    [11] = {"Q3_K", 256, 110, 3},   [12] = {"Q4_K", 256, 144, 4},  [13] = {"Q5_K", 256, 176, 5},
    [14] = {"Q6_K", 256, 210, 6},   [15] = {"Q8_K", 256, 292, 8},  [16] = {"IQ2_XXS", 256, 66, 2},
    [17] = {"IQ2_XS", 256, 74, 2},  [18] = {"IQ3_XXS", 256, 98, 3}, [19] = {"IQ1_S", 256, 50, 1},
    [20] = {"IQ4_NL", 32, 18, 4},   [21] = {"IQ3_S", 256, 110, 3}, [22] = {"IQ2_S", 256, 82, 2},
    [23] = {"IQ4_XS", 256, 136, 4}, [24] = {"I8", 1, 1, 8},        [25] = {"I16", 1, 2, 16},
    [26] = {"I32", 1, 4, 32},       [27] = {"I64", 1, 8, 64},      [28] = {"F64", 1, 8, 64},
    [29] = {"IQ1_M", 256, 56, 1},   [30] = {"BF16", 1, 2, 16},     [34] = {"TQ1_0", 256, 54, 1},
    [35] = {"TQ2_0", 256, 66, 2},   [39] = {"MXFP4", 32, 17, 4},   [40] = {"NVFP4", 64, 36, 4},
    [41] = {"Q1_0", 128, 18, 1},
};
#define NTYPES (sizeof types / sizeof *types)

static const type_info *type_get(uint32_t t)
{
    return t < NTYPES && types[t].name != NULL ? &types[t] : NULL;
}

const char *gguf_type_name(uint32_t type)
{
    const type_info *ti = type_get(type);
    return ti ? ti->name : NULL;
}

int gguf_type_bits(uint32_t type)
{
    const type_info *ti = type_get(type);
    return ti ? ti->bits : 0;
}

int gguf_type_is_plain(uint32_t type)
{
    const type_info *ti = type_get(type);
    return ti != NULL && ti->block == 1;
}

/* Metadata value types. */
enum {
    V_U8, V_I8, V_U16, V_I16, V_U32, V_I32, V_F32, V_BOOL, V_STRING, V_ARRAY, V_U64, V_I64, V_F64,
    V_COUNT
};
static const uint8_t value_size[V_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const value_name[V_COUNT] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                                "i32", "f32",  "bool",   "string", "array",
                                                "u64", "i64", "f64"};

/* A bounds-checked cursor; the first failure records its message. */
typedef struct {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    int failed;
} cursor;

static int fail(cursor *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(c->err, c->errlen, "offset %zu: ", c->pos);
        if (n >= 0 && (size_t)n < c->errlen)
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
        c->failed = 1;
    }
    return -1;
}

static int need(cursor *c, uint64_t n, const char *what)
{
    if (c->failed)
        return -1;
    if (n > c->len - c->pos)
        return fail(c, "truncated file: %s needs %llu bytes, %zu left", what,
                    (unsigned long long)n, c->len - c->pos);
    return 0;
}

static uint64_t rd(cursor *c, unsigned size, const char *what)
{
    if (need(c, size, what) != 0)
        return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)c->p[c->pos + i] << (8 * i);
    c->pos += size;
    return v;
}

/* A GGUF string: u64 length, bytes (no terminator). Returns its start. */
static const uint8_t *rd_str(cursor *c, uint64_t *n, const char *what)
{
    *n = rd(c, 8, what);
    if (need(c, *n, what) != 0)
        return NULL;
    const uint8_t *s = c->p + c->pos;
    c->pos += (size_t)*n;
    return s;
}

static int skip_value(cursor *c, uint32_t type, int depth)
{
    uint64_t n;
    if (type >= V_COUNT)
        return fail(c, "unknown metadata value type %u", type);
    if (type == V_STRING)
        return rd_str(c, &n, "string value") ? 0 : -1;
    if (type != V_ARRAY) {
        if (need(c, value_size[type], value_name[type]) != 0)
            return -1;
        c->pos += value_size[type];
        return 0;
    }
    if (depth >= 8)
        return fail(c, "metadata arrays nested deeper than 8");
    uint32_t et = (uint32_t)rd(c, 4, "array type");
    uint64_t count = rd(c, 8, "array length");
    if (c->failed)
        return -1;
    if (et >= V_COUNT)
        return fail(c, "unknown array element type %u", et);
    if (value_size[et] != 0) {
        if (count > (c->len - c->pos) / value_size[et])
            return fail(c, "truncated file: array of %llu %s", (unsigned long long)count,
                        value_name[et]);
        c->pos += (size_t)count * value_size[et];
        return 0;
    }
    /* Strings and arrays take at least 8 bytes each: bounds the loop. */
    if (count > (c->len - c->pos) / 8)
        return fail(c, "truncated file: array of %llu %s", (unsigned long long)count,
                    value_name[et]);
    for (uint64_t i = 0; i < count; i++)
        if (skip_value(c, et, depth + 1) != 0)
            return -1;
    return 0;
}

static char *dup_str(const uint8_t *s, uint64_t n)
{
    char *d = malloc((size_t)n + 1);
    if (d != NULL) {
        memcpy(d, s, (size_t)n);
        d[n] = '\0';
    }
    return d;
}

static int key_is(const uint8_t *k, uint64_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, (size_t)n) == 0;
}

static int read_kv(cursor *c, gguf_file *g)
{
    uint64_t kn;
    const uint8_t *key = rd_str(c, &kn, "metadata key");
    uint32_t type = (uint32_t)rd(c, 4, "metadata value type");
    if (c->failed)
        return -1;
    if (key_is(key, kn, "general.alignment")) {
        if (type != V_U32)
            return fail(c, "general.alignment must be u32, not %s",
                        type < V_COUNT ? value_name[type] : "unknown");
        uint32_t a = (uint32_t)rd(c, 4, "general.alignment");
        if (!c->failed && (a == 0 || (a & (a - 1)) != 0))
            return fail(c, "general.alignment %u is not a power of two", a);
        g->alignment = a;
        return c->failed ? -1 : 0;
    }
    if (key_is(key, kn, "general.architecture") && type == V_STRING) {
        uint64_t n;
        const uint8_t *s = rd_str(c, &n, "general.architecture");
        if (s == NULL)
            return -1;
        free(g->architecture);
        g->architecture = dup_str(s, n);
        return g->architecture ? 0 : fail(c, "out of memory");
    }
    return skip_value(c, type, 0);
}

static int read_tensor_info(cursor *c, gguf_tensor *t)
{
    uint64_t n;
    const uint8_t *name = rd_str(c, &n, "tensor name");
    if (name == NULL)
        return -1;
    if (n == 0 || memchr(name, '\0', (size_t)n) != NULL)
        return fail(c, "empty tensor name or a name with a NUL byte");
    t->name = dup_str(name, n);
    if (t->name == NULL)
        return fail(c, "out of memory");
    t->ndim = (uint32_t)rd(c, 4, "tensor rank");
    if (!c->failed && (t->ndim == 0 || t->ndim > GGUF_MAX_DIMS))
        return fail(c, "tensor '%s': rank %u is not 1..%d", t->name, t->ndim, GGUF_MAX_DIMS);
    uint64_t elems = 1;
    for (uint32_t d = 0; d < t->ndim && !c->failed; d++) {
        t->dims[d] = rd(c, 8, "tensor dimension");
        if (c->failed)
            break;
        if (t->dims[d] == 0 || t->dims[d] > (uint64_t)INT64_MAX / elems)
            return fail(c, "tensor '%s': bad dimension %llu", t->name,
                        (unsigned long long)t->dims[d]);
        elems *= t->dims[d];
    }
    t->type = (uint32_t)rd(c, 4, "tensor type");
    t->offset = rd(c, 8, "tensor offset");
    if (c->failed)
        return -1;
    const type_info *ti = type_get(t->type);
    if (ti == NULL)
        return fail(c, "tensor '%s': unknown ggml type %u", t->name, t->type);
    if (t->dims[0] % ti->block != 0)
        return fail(c, "tensor '%s': row of %llu is not a multiple of %s's block of %u", t->name,
                    (unsigned long long)t->dims[0], ti->name, ti->block);
    uint64_t blocks = elems / ti->block;
    if (blocks > UINT64_MAX / ti->bytes)
        return fail(c, "tensor '%s': size overflows", t->name);
    t->nbytes = blocks * ti->bytes;
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

/* Tensors must lie inside the data section, aligned, without overlap, with
 * unique names. */
static int check_tensors(cursor *c, gguf_file *g, uint64_t data_len, int allow_short_data)
{
    if (g->count == 0)
        return 0;
    const gguf_tensor **v = malloc(g->count * sizeof *v);
    if (v == NULL)
        return fail(c, "out of memory");
    for (size_t i = 0; i < g->count; i++)
        v[i] = &g->tensors[i];
    int rc = 0;
    qsort(v, g->count, sizeof *v, by_name);
    for (size_t i = 1; i < g->count && rc == 0; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            rc = fail(c, "duplicate tensor name '%s'", v[i]->name);
    qsort(v, g->count, sizeof *v, by_offset);
    for (size_t i = 0; i < g->count && rc == 0; i++) {
        const gguf_tensor *t = v[i];
        if (t->offset % g->alignment != 0)
            rc = fail(c, "tensor '%s': offset %llu is not aligned to %u", t->name,
                      (unsigned long long)t->offset, g->alignment);
        else if (i > 0 && t->offset < v[i - 1]->offset + v[i - 1]->nbytes)
            rc = fail(c, "tensors '%s' and '%s' overlap", v[i - 1]->name, t->name);
        else if (t->nbytes > UINT64_MAX - t->offset)
            rc = fail(c, "tensor '%s': offset overflows", t->name);
        else if (!allow_short_data && t->offset + t->nbytes > data_len)
            rc = fail(c, "truncated file: tensor '%s' needs bytes %llu..%llu of a %llu-byte data "
                         "section",
                      t->name, (unsigned long long)t->offset,
                      (unsigned long long)(t->offset + t->nbytes), (unsigned long long)data_len);
    }
    free(v);
    return rc;
}

int gguf_parse(const uint8_t *buf, size_t len, int allow_short_data, gguf_file *g, char *err,
               size_t errlen)
{
    memset(g, 0, sizeof *g);
    g->alignment = 32;
    cursor c = {buf, len, 0, err, errlen, 0};
    if (len < 4 || memcmp(buf, "GGUF", 4) != 0) {
        fail(&c, "not a GGUF file (no \"GGUF\" magic)");
        return -1;
    }
    c.pos = 4;
    g->version = (uint32_t)rd(&c, 4, "version");
    if (!c.failed && g->version != 2 && g->version != 3) {
        if (g->version == 1)
            fail(&c, "GGUF v1 is not supported (v2 and v3 are)");
        else if ((g->version & 0xFFFF) == 0)
            fail(&c, "big-endian GGUF is not supported");
        else
            fail(&c, "unknown GGUF version %u", g->version);
    }
    uint64_t n_tensors = rd(&c, 8, "tensor count");
    uint64_t n_kv = rd(&c, 8, "metadata count");
    /* A kv takes at least 12 bytes and a tensor info 24: rejects absurd
     * counts before any allocation. */
    if (!c.failed && (n_kv > (len - c.pos) / 12 || n_tensors > (len - c.pos) / 24))
        fail(&c, "truncated file: %llu metadata entries and %llu tensors cannot fit",
             (unsigned long long)n_kv, (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_kv && !c.failed; i++)
        read_kv(&c, g);
    if (!c.failed) {
        g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
        if (g->tensors == NULL)
            fail(&c, "out of memory");
    }
    for (uint64_t i = 0; i < n_tensors && !c.failed; i++) {
        g->count++;
        read_tensor_info(&c, &g->tensors[i]);
    }
    if (!c.failed) {
        uint64_t a = g->alignment;
        g->data_offset = (c.pos + a - 1) / a * a;
        uint64_t data_len = g->data_offset <= len ? len - g->data_offset : 0;
        if (!allow_short_data && g->count > 0 && g->data_offset > len)
            fail(&c, "truncated file: the data section starts past the end");
        check_tensors(&c, g, data_len, allow_short_data);
    }
    if (c.failed) {
        gguf_free(g);
        return -1;
    }
    return 0;
}

int gguf_open(const char *path, gguf_file *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && map == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %s", path);
        return -1;
    }
    static const uint8_t empty[1];
    int rc = gguf_parse(len ? map : empty, len, 0, g, err, errlen);
    if (len)
        munmap(map, len);
    return rc;
}

void gguf_free(gguf_file *g)
{
    for (size_t i = 0; i < g->count; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    free(g->architecture);
    memset(g, 0, sizeof *g);
}
