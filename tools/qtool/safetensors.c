/* safetensors: 8-byte little-endian header length, JSON header, data. */
#define _GNU_SOURCE
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u * 1024u * 1024u) /* the reference library's limit */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
              {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
              {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1}};

size_t st_dtype_size(const char *dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, dtype) == 0)
            return dtypes[i].size;
    return 0;
}

int st_align_group(const char *dtype, uint64_t nbytes)
{
    if (nbytes % 8 == 0)
        return 0;
    size_t es = st_dtype_size(dtype);
    return es >= 4 ? 1 : (es == 2 ? 2 : 3);
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : (x->data > y->data ? 1 : 0);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        st_close(f);                                                                               \
        return -1;                                                                                 \
    } while (0)

int st_open(const char *path, st_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 8) {
        close(fd);
        snprintf(err, errlen, "%s: not a safetensors file (shorter than 8 bytes)", path);
        return -1;
    }
    f->map_len = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        FAIL("%s: mmap failed: %s", path, strerror(errno));
    }
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > MAX_HEADER)
        FAIL("%s: header of %llu bytes exceeds the 100 MB limit", path, (unsigned long long)hlen);
    if (hlen > f->map_len - 8)
        FAIL("%s: truncated (header of %llu bytes, file of %zu)", path, (unsigned long long)hlen,
             f->map_len);
    if (hlen == 0 || p[8] != '{')
        FAIL("%s: header is not a JSON object", path);
    json_error_t je;
    f->header = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(f->header))
        FAIL("%s: bad header JSON: %s", path, je.text);
    const uint8_t *base = p + 8 + hlen;
    size_t buf_len = f->map_len - 8 - hlen;
    f->tensors = calloc(json_object_size(f->header) + 1, sizeof *f->tensors);
    if (f->tensors == NULL)
        FAIL("%s: out of memory", path);
    const char *key;
    json_t *v;
    json_object_foreach(f->header, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v))
                FAIL("%s: __metadata__ is not an object", path);
            json_object_foreach(v, mk, mv) if (!json_is_string(mv))
                FAIL("%s: __metadata__ value of '%s' is not a string", path, mk);
            continue;
        }
        st_tensor *t = &f->tensors[f->count];
        t->name = key;
        json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
               *off = json_object_get(v, "data_offsets");
        if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) || json_array_size(off) != 2)
            FAIL("%s: tensor '%s' lacks dtype, shape or data_offsets", path, key);
        t->dtype = json_string_value(dt);
        size_t es = st_dtype_size(t->dtype);
        if (es == 0)
            FAIL("%s: tensor '%s' has unknown dtype %s", path, key, t->dtype);
        if (json_array_size(sh) > 8)
            FAIL("%s: tensor '%s' has more than 8 dimensions", path, key);
        uint64_t n = 1;
        t->ndim = (int)json_array_size(sh);
        for (int d = 0; d < t->ndim; d++) {
            json_t *e = json_array_get(sh, (size_t)d);
            if (!json_is_integer(e) || json_integer_value(e) < 0)
                FAIL("%s: tensor '%s' has a bad shape", path, key);
            t->shape[d] = json_integer_value(e);
            if (t->shape[d] != 0 && n > UINT64_MAX / 16 / (uint64_t)t->shape[d])
                FAIL("%s: tensor '%s' shape overflows", path, key);
            n *= (uint64_t)t->shape[d];
        }
        json_t *b0 = json_array_get(off, 0), *b1 = json_array_get(off, 1);
        if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 ||
            json_integer_value(b1) < json_integer_value(b0))
            FAIL("%s: tensor '%s' has bad data_offsets", path, key);
        uint64_t o0 = (uint64_t)json_integer_value(b0), o1 = (uint64_t)json_integer_value(b1);
        if (o1 > buf_len)
            FAIL("%s: tensor '%s' ends at %llu, past the end of the data (%zu bytes): truncated file?",
                 path, key, (unsigned long long)o1, buf_len);
        if (o1 - o0 != n * es)
            FAIL("%s: tensor '%s' holds %llu bytes but its shape needs %llu", path, key,
                 (unsigned long long)(o1 - o0), (unsigned long long)(n * es));
        t->data = base + o0;
        t->nbytes = (size_t)(o1 - o0);
        f->count++;
    }
    /* Like the reference: tensors tile the data buffer exactly, in order. */
    st_tensor *sorted = malloc((f->count + 1) * sizeof *sorted);
    if (sorted == NULL)
        FAIL("%s: out of memory", path);
    memcpy(sorted, f->tensors, f->count * sizeof *sorted);
    qsort(sorted, f->count, sizeof *sorted, cmp_offset);
    const uint8_t *expect = base;
    for (size_t i = 0; i < f->count; i++) {
        if (sorted[i].data != expect) {
            const char *nm = sorted[i].name;
            free(sorted);
            FAIL("%s: tensor '%s' overlaps another or leaves a gap", path, nm);
        }
        expect += sorted[i].nbytes;
    }
    free(sorted);
    if (expect != base + buf_len)
        FAIL("%s: %zu trailing bytes after the last tensor", path, (size_t)(base + buf_len - expect));
    return 0;
}

void st_close(st_file *f)
{
    if (f->map)
        munmap(f->map, f->map_len);
    json_decref(f->header);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

void st_writer_init(st_writer *w)
{
    memset(w, 0, sizeof *w);
    w->header = json_object();
}

int st_writer_add(st_writer *w, const char *name, const char *dtype, int ndim, const int64_t *shape,
                  const void *data, size_t nbytes)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        const void **d = realloc(w->data, cap * sizeof *d);
        if (d == NULL)
            return -1;
        w->data = d;
        size_t *s = realloc(w->sizes, cap * sizeof *s);
        if (s == NULL)
            return -1;
        w->sizes = s;
        json_t **e = realloc(w->entries, cap * sizeof *e);
        if (e == NULL)
            return -1;
        w->entries = e;
        w->cap = cap;
    }
    json_t *sh = json_array();
    for (int d = 0; d < ndim; d++)
        json_array_append_new(sh, json_integer(shape[d]));
    json_t *entry = json_pack("{s:s, s:o}", "dtype", dtype, "shape", sh);
    if (entry == NULL || json_object_set_new(w->header, name, entry) != 0)
        return -1;
    w->entries[w->count] = entry;
    w->data[w->count] = data;
    w->sizes[w->count++] = nbytes;
    return 0;
}

/* Gives every tensor its data_offsets, group by group; order[k] is the
 * tensor whose data comes k-th. */
static int st_writer_place(st_writer *w, size_t *order)
{
    uint64_t at = 0;
    size_t k = 0;
    for (int g = 0; g < ST_ALIGN_GROUPS; g++)
        for (size_t i = 0; i < w->count; i++) {
            json_t *e = w->entries[i];
            if (st_align_group(json_string_value(json_object_get(e, "dtype")), w->sizes[i]) != g)
                continue;
            if (json_object_set_new(e, "data_offsets", json_pack("[II]", (json_int_t)at,
                                                                 (json_int_t)(at + w->sizes[i]))) != 0)
                return -1;
            at += w->sizes[i];
            order[k++] = i;
        }
    return 0;
}

int st_writer_finish(st_writer *w, const char *path, char *err, size_t errlen)
{
    size_t *order = malloc((w->count ? w->count : 1) * sizeof *order);
    char *hdr = order && st_writer_place(w, order) == 0 ? json_dumps(w->header, JSON_COMPACT) : NULL;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *out = hdr ? fopen(tmp, "wb") : NULL;
    int rc = -1;
    if (hdr == NULL) {
        snprintf(err, errlen, "%s: out of memory for the header", path);
    } else if (out == NULL) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    } else {
        size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
        uint8_t len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        int ok = fwrite(len8, 1, 8, out) == 8 && fwrite(hdr, 1, hl, out) == hl;
        for (size_t i = hl; ok && i < padded; i++)
            ok = fputc(' ', out) != EOF;
        for (size_t k = 0; ok && k < w->count; k++)
            ok = fwrite(w->data[order[k]], 1, w->sizes[order[k]], out) == w->sizes[order[k]];
        ok = (fclose(out) == 0) && ok;
        if (ok && rename(tmp, path) == 0) {
            rc = 0;
        } else {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(hdr);
    free(order);
    json_decref(w->header);
    free(w->entries);
    free(w->data);
    free(w->sizes);
    memset(w, 0, sizeof *w);
    return rc;
}
