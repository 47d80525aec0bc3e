/* Minimal safetensors reader (mmap, validated like the reference library)
 * and writer. */
#ifndef QTOOL_SAFETENSORS_H
#define QTOOL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
    const char *name;
    const char *dtype; /* safetensors spelling: F32, F16, BF16, U8, I8, F8_E4M3, ... */
    int ndim;
    int64_t shape[8];
    const uint8_t *data;
    size_t nbytes;
} st_tensor;

typedef struct {
    void *map;
    size_t map_len;
    json_t *header;
    st_tensor *tensors;
    size_t count;
} st_file;

/* Opens and validates path; on failure returns -1 with a one-line message. */
int st_open(const char *path, st_file *f, char *err, size_t errlen);
void st_close(st_file *f);
size_t st_dtype_size(const char *dtype); /* 0 if unknown */

/* Safetensors allows no gap between tensors, so a writer aligns them by
 * order: group 0 first (sizes a multiple of 8, so each starts 8-aligned
 * after the 8-aligned header), then groups 1, 2 and 3 (element size 4, 2,
 * 1). Every tensor then starts at a multiple of its element size, which
 * zero-copy readers and typed loads need. */
#define ST_ALIGN_GROUPS 4
int st_align_group(const char *dtype, uint64_t nbytes);

/* Writer: add tensors, each name once (the data must stay valid until st_writer_finish,
 * which places them by st_align_group). */
typedef struct {
    json_t *header;
    json_t **entries; /* each tensor's header object, borrowed from header */
    const void **data;
    size_t *sizes;
    size_t count, cap;
} st_writer;

void st_writer_init(st_writer *w);
int st_writer_add(st_writer *w, const char *name, const char *dtype, int ndim, const int64_t *shape,
                  const void *data, size_t nbytes);
/* Writes to path via a temporary file renamed into place. */
int st_writer_finish(st_writer *w, const char *path, char *err, size_t errlen);

#endif
