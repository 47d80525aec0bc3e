/* Registry of temporary files; the signal handler only calls unlink and
 * _exit, which are async-signal-safe, on paths stored in advance. */
#define _GNU_SOURCE
#include "tmpfiles.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TMP 1024
#define MAX_PATH_LEN 4096

static char paths[MAX_TMP][MAX_PATH_LEN];
static volatile sig_atomic_t used[MAX_TMP];

static void on_signal(int sig)
{
    for (int i = 0; i < MAX_TMP; i++)
        if (used[i])
            unlink(paths[i]);
    static const char msg[] = "qtool: interrupted; removed the partial output\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(128 + sig);
}

void tmpfiles_install_handlers(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int tmpfiles_add(const char *path)
{
    if (strlen(path) >= MAX_PATH_LEN)
        return -1;
    for (int i = 0; i < MAX_TMP; i++)
        if (!used[i]) {
            snprintf(paths[i], MAX_PATH_LEN, "%s", path);
            used[i] = 1;
            return i;
        }
    return -1;
}

void tmpfiles_forget(int slot)
{
    if (slot >= 0 && slot < MAX_TMP)
        used[slot] = 0;
}

void tmpfiles_remove_all(void)
{
    for (int i = 0; i < MAX_TMP; i++)
        if (used[i]) {
            unlink(paths[i]);
            used[i] = 0;
        }
}

int tmpfiles_write_json(const char *path, json_t *v, size_t flags, char *err, size_t errlen)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (tmp == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid());
    tmpfiles_install_handlers();
    int slot = tmpfiles_add(tmp);
    int rc = json_dump_file(v, tmp, flags);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    tmpfiles_forget(slot);
    free(tmp);
    return rc;
}
