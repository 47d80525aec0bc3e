/* Minimal GGUF (v2/v3) reader: header, metadata (only the keys qtool needs
 * are kept, every value type is skipped safely) and tensor infos. Every read
 * is bounds-checked against the file size; tensor data is never loaded. */
#ifndef QTOOL_GGUF_H
#define QTOOL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define GGUF_MAX_DIMS 4

typedef struct {
    char *name;
    uint32_t ndim;
    uint64_t dims[GGUF_MAX_DIMS]; /* GGUF order: dims[0] varies fastest */
    uint32_t type;                /* ggml_type */
    uint64_t offset;              /* relative to the start of the data section */
    uint64_t nbytes;
} gguf_tensor;

typedef struct {
    uint32_t version;
    char *architecture; /* "general.architecture", or NULL */
    uint32_t alignment; /* "general.alignment", default 32 */
    uint64_t data_offset;
    gguf_tensor *tensors;
    size_t count;
} gguf_file;

/* Parses an in-memory GGUF image (len bytes). The tensor data may be absent
 * (a header-only prefix) only when allow_short_data is set. Returns 0, or -1
 * with a one-line message in err. */
int gguf_parse(const uint8_t *buf, size_t len, int allow_short_data, gguf_file *g, char *err,
               size_t errlen);
/* Maps path and parses it, requiring all tensor data to be present. */
int gguf_open(const char *path, gguf_file *g, char *err, size_t errlen);
void gguf_free(gguf_file *g);

/* Name of a ggml_type ("Q4_K"), or NULL when unknown. */
const char *gguf_type_name(uint32_t type);
/* Bits per weight class: 0 unknown; otherwise the nominal bits of the code
 * (64/32/16/8 for plain types, 8 for Q8_*, 6 for Q6_K, 5, 4, 3, 2, 1). */
int gguf_type_bits(uint32_t type);
/* 1 if the type stores plain values (F32, F16, BF16, F64, I8..I64): a layer
 * that GGUF keeps unquantized. */
int gguf_type_is_plain(uint32_t type);

#endif
