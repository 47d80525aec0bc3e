/* Streaming safetensors writer: tensor data goes straight to a temporary file
 * in the destination's directory as it is produced; the header is written
 * last into space reserved at the front (padded with spaces, which every
 * safetensors reader accepts), and the file is renamed into place.
 *
 * Data goes out with O_DIRECT where the file system takes it: the disk's DMA
 * does the copy the page cache would cost a CPU (the cores quantize
 * meanwhile), in aligned blocks of an aligned buffer; the first block's bytes
 * before the data are the header's, which is written last without O_DIRECT,
 * and the last block's padding is cut off by ftruncate. A file system that
 * refuses O_DIRECT (tmpfs, some FUSE) gets ordinary buffered writes, as does
 * every file when QTOOL_BUFFERED_IO is set. The bytes are the same. */
#ifndef QTOOL_ST_STREAM_H
#define QTOOL_ST_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
    char *path, *tmp;
    int fd, slot;
    uint64_t reserved;   /* header bytes reserved after the 8-byte length */
    uint64_t pos;        /* bytes of tensor data written so far */
    uint64_t tensor_end; /* where the current tensor's data must end */
    json_t *header;
    uint8_t *buf;
    size_t fill;
    int direct;      /* the fd has O_DIRECT */
    uint64_t buf_at; /* direct: file offset of buf[0] (aligned) */
} st_stream;

/* Length of the JSON text of header as st_stream_finish writes it. */
size_t st_header_text_len(const json_t *header);
/* Adds "name": {dtype, shape, data_offsets [start, start+nbytes]} to header. */
int st_header_add(json_t *header, const char *name, const char *dtype, int ndim,
                  const int64_t *shape, uint64_t start, uint64_t nbytes);

/* 0 when the file system that will hold path has `need` bytes free for
 * unprivileged writers (or does not say: statvfs fails or reports no
 * blocks); else -1 with the shortfall in err, before anything is written.
 * QTOOL_TEST_FREE_BYTES stands in for the free count (tests). */
int st_space_check(const char *path, uint64_t need, char *err, size_t errlen);
/* Creates path's temporary file with `reserved` header bytes. */
int st_stream_open(st_stream *s, const char *path, uint64_t reserved, char *err, size_t errlen);
/* Starts a tensor; its nbytes of data follow through st_stream_write. */
int st_stream_tensor(st_stream *s, const char *name, const char *dtype, int ndim,
                     const int64_t *shape, uint64_t nbytes, char *err, size_t errlen);
int st_stream_write(st_stream *s, const void *data, size_t n, char *err, size_t errlen);
/* Adds __metadata__ (may be NULL), writes the header, flushes and leaves the
 * finished file at its temporary name (st_stream_commit renames it). */
int st_stream_finish(st_stream *s, json_t *metadata, char *err, size_t errlen);
int st_stream_commit(st_stream *s, char *err, size_t errlen);
/* Removes the temporary file and frees everything (safe after commit too). */
void st_stream_abort(st_stream *s);

#endif
