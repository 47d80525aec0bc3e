/* A model to read: one .safetensors file or a sharded model given by its
 * *.safetensors.index.json, every shard mapped and validated. */
#ifndef QTOOL_ST_MODEL_H
#define QTOOL_ST_MODEL_H

#include <stddef.h>

#include "safetensors.h"

typedef struct {
    st_file *files;
    size_t nfiles;
    const st_tensor **tensors; /* every tensor, in file then header order */
    size_t count;
    json_t *metadata; /* __metadata__ of the file (first shard); owned */
    int sharded;
} st_model;

int st_model_open(const char *path, st_model *m, char *err, size_t errlen);
void st_model_close(st_model *m);
const st_tensor *st_model_find(const st_model *m, const char *name);
/* Asks the kernel to read a tensor's pages ahead / to drop them from this
 * process once used (a mapped file's pages count as resident memory). */
void st_prefetch(const st_tensor *t);
void st_release(const st_tensor *t);
/* Maps a tensor's pages into this process in one call (fewer page faults
 * than touching them one by one); a no-op where the kernel lacks it. */
void st_populate(const st_tensor *t);
/* t's bytes at an address its elements may be loaded from (qk's rule): the
 * mapping, or a copy in *copy (to free) when the file's writer left the
 * tensor misaligned. NULL when that copy cannot be made. */
const void *st_aligned(const st_tensor *t, void **copy);
/* Number of elements of t. */
size_t st_numel(const st_tensor *t);

#endif
