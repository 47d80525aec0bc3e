/* Streaming safetensors writer. */
#define _GNU_SOURCE
#include "st_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tmpfiles.h"

#define BUF_SIZE ((size_t)8 << 20) /* large writes keep syscalls rare */
#define DIO_ALIGN ((size_t)4096)    /* O_DIRECT buffer, offset and length unit */

size_t st_header_text_len(const json_t *header)
{
    char *t = json_dumps(header, JSON_COMPACT);
    size_t n = t ? strlen(t) : 0;
    free(t);
    return n;
}

int st_header_add(json_t *header, const char *name, const char *dtype, int ndim,
                  const int64_t *shape, uint64_t start, uint64_t nbytes)
{
    json_t *sh = json_array();
    for (int d = 0; d < ndim; d++)
        json_array_append_new(sh, json_integer(shape[d]));
    json_t *e = json_pack("{s:s, s:o, s:[II]}", "dtype", dtype, "shape", sh, "data_offsets",
                          (json_int_t)start, (json_int_t)(start + nbytes));
    return e == NULL || json_object_set_new(header, name, e) != 0 ? -1 : 0;
}

static int full_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Leaves O_DIRECT: from here on writes go through the page cache. */
static int to_buffered(st_stream *s)
{
    int fl = fcntl(s->fd, F_GETFL);
    if (fl < 0 || fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) != 0)
        return -1;
    s->direct = 0;
    return 0;
}

/* Writes the buffer out. Direct: whole aligned blocks (the last one padded
 * with zeros, `final`); a file system that turns out to refuse them gets the
 * same bytes buffered. */
static int flush_buf(st_stream *s, int final)
{
    if (s->fill == 0)
        return 0;
    if (!s->direct) {
        uint64_t at = 8 + s->reserved + s->pos - s->fill;
        if (full_pwrite(s->fd, s->buf, s->fill, at) != 0)
            return -1;
        s->fill = 0;
        return 0;
    }
    size_t len = (s->fill + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
    if (!final && len != s->fill)
        return 0; /* only whole blocks before the end */
    memset(s->buf + s->fill, 0, len - s->fill);
    if (full_pwrite(s->fd, s->buf, len, s->buf_at) != 0) {
        if (errno != EINVAL || to_buffered(s) != 0 || full_pwrite(s->fd, s->buf, len, s->buf_at) != 0)
            return -1;
    }
    s->buf_at += len;
    s->fill = 0;
    return 0;
}

int st_space_check(const char *path, uint64_t need, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return 0;
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        slash[slash == dir] = '\0'; /* "/x" -> "/" */
    struct statvfs sv;
    int known = statvfs(slash != NULL ? dir : ".", &sv) == 0 && sv.f_blocks > 0;
    uint64_t avail = known ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
    const char *hook = getenv("QTOOL_TEST_FREE_BYTES");
    if (hook != NULL)
        known = 1, avail = strtoull(hook, NULL, 10);
    free(dir);
    if (!known || need <= avail)
        return 0;
    if (need - avail < ((uint64_t)1 << 20)) /* a near miss reads better in bytes */
        snprintf(err, errlen, "%s: the output needs %llu bytes but its file system has %llu free; nothing was written",
                 path, (unsigned long long)need, (unsigned long long)avail);
    else
        snprintf(err, errlen, "%s: the output needs %.2f MiB but its file system has %.2f MiB free; nothing was written",
                 path, (double)need / 1048576.0, (double)avail / 1048576.0);
    return -1;
}

int st_stream_open(st_stream *s, const char *path, uint64_t reserved, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->slot = -1;
    size_t n = strlen(path) + 32;
    s->path = strdup(path);
    s->tmp = malloc(n);
    if (posix_memalign((void **)&s->buf, DIO_ALIGN, BUF_SIZE + DIO_ALIGN) != 0)
        s->buf = NULL;
    s->header = json_object();
    if (s->path == NULL || s->tmp == NULL || s->buf == NULL || s->header == NULL) {
        snprintf(err, errlen, "out of memory");
        st_stream_abort(s);
        return -1;
    }
    snprintf(s->tmp, n, "%s.tmp.%d", path, (int)getpid());
    tmpfiles_install_handlers();
    s->slot = tmpfiles_add(s->tmp);
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    s->direct = getenv("QTOOL_BUFFERED_IO") == NULL;
    s->fd = s->slot < 0 ? -1 : open(s->tmp, flags | (s->direct ? O_DIRECT : 0), 0644);
    if (s->fd < 0 && s->direct && errno == EINVAL) {
        s->direct = 0;
        s->fd = open(s->tmp, flags, 0644);
    }
    if (s->fd < 0 || s->slot < 0) {
        snprintf(err, errlen, "%s: %s", s->tmp, s->fd < 0 ? strerror(errno) : "too many outputs");
        st_stream_abort(s);
        return -1;
    }
    s->reserved = (reserved + 7) / 8 * 8;
    return 0;
}

int st_stream_tensor(st_stream *s, const char *name, const char *dtype, int ndim,
                     const int64_t *shape, uint64_t nbytes, char *err, size_t errlen)
{
    if (s->pos != s->tensor_end) {
        snprintf(err, errlen, "%s: internal error: previous tensor is incomplete", s->path);
        return -1;
    }
    if (st_header_add(s->header, name, dtype, ndim, shape, s->pos, nbytes) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->tensor_end = s->pos + nbytes;
    return 0;
}

int st_stream_write(st_stream *s, const void *data, size_t n, char *err, size_t errlen)
{
    if (s->pos + n > s->tensor_end) {
        snprintf(err, errlen, "%s: internal error: tensor data overruns its size", s->path);
        return -1;
    }
    const uint8_t *p = data;
    if (s->direct && s->pos == 0 && s->fill == 0) {
        /* the first block starts at an aligned offset: its head is header space */
        uint64_t data0 = 8 + s->reserved;
        s->buf_at = data0 / DIO_ALIGN * DIO_ALIGN;
        s->fill = (size_t)(data0 - s->buf_at);
        memset(s->buf, 0, s->fill);
    }
    while (n > 0) {
        if (!s->direct && s->fill == 0 && n >= BUF_SIZE) { /* big pieces skip the copy */
            if (full_pwrite(s->fd, p, n, 8 + s->reserved + s->pos) != 0)
                goto fail;
            s->pos += n;
            return 0;
        }
        size_t take = BUF_SIZE - s->fill < n ? BUF_SIZE - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        s->pos += take;
        p += take;
        n -= take;
        if (s->fill == BUF_SIZE && flush_buf(s, 0) != 0)
            goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: write failed: %s", s->tmp, strerror(errno));
    return -1;
}

int st_stream_finish(st_stream *s, json_t *metadata, char *err, size_t errlen)
{
    if (s->pos != s->tensor_end) {
        snprintf(err, errlen, "%s: internal error: last tensor is incomplete", s->path);
        return -1;
    }
    if (metadata != NULL && json_object_size(metadata) > 0)
        json_object_set(s->header, "__metadata__", metadata);
    char *text = json_dumps(s->header, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = strlen(text);
    if (s->reserved == 0 && s->pos == 0)
        s->reserved = (len + 7) / 8 * 8; /* nothing written yet: size it now */
    if (len > s->reserved) {
        free(text);
        snprintf(err, errlen, "%s: internal error: header of %zu bytes exceeds the %llu reserved",
                 s->path, len, (unsigned long long)s->reserved);
        return -1;
    }
    uint8_t *h = malloc(8 + s->reserved);
    int rc = -1;
    if (h != NULL && flush_buf(s, 1) == 0 && (!s->direct || to_buffered(s) == 0)) {
        for (int i = 0; i < 8; i++)
            h[i] = (uint8_t)(s->reserved >> (8 * i));
        memcpy(h + 8, text, len);
        memset(h + 8 + len, ' ', s->reserved - len);
        rc = full_pwrite(s->fd, h, 8 + s->reserved, 0);
        if (rc == 0 && ftruncate(s->fd, (off_t)(8 + s->reserved + s->pos)) != 0)
            rc = -1;
        if (rc == 0 && close(s->fd) != 0)
            rc = -1;
        s->fd = -1;
    }
    if (rc != 0)
        snprintf(err, errlen, "%s: write failed: %s", s->tmp, h ? strerror(errno) : "out of memory");
    free(h);
    free(text);
    return rc;
}

int st_stream_commit(st_stream *s, char *err, size_t errlen)
{
    if (rename(s->tmp, s->path) != 0) {
        snprintf(err, errlen, "%s: rename failed: %s", s->path, strerror(errno));
        return -1;
    }
    tmpfiles_forget(s->slot);
    s->slot = -1;
    free(s->tmp);
    s->tmp = NULL;
    return 0;
}

void st_stream_abort(st_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->tmp != NULL && s->slot >= 0)
        unlink(s->tmp);
    tmpfiles_forget(s->slot);
    free(s->path);
    free(s->tmp);
    free(s->buf);
    json_decref(s->header);
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->slot = -1;
}
