/* Temporary output files that an interrupted or failed run must not leave
 * behind: registered while open, removed by a SIGINT/SIGTERM handler. */
#ifndef QTOOL_TMPFILES_H
#define QTOOL_TMPFILES_H

#include <stddef.h>

#include <jansson.h>

/* Installs the SIGINT/SIGTERM handler (once). */
void tmpfiles_install_handlers(void);
/* Registers path (copied); returns a slot id or -1 when the table is full. */
int tmpfiles_add(const char *path);
/* Forgets a slot (after rename or unlink). */
void tmpfiles_forget(int slot);
/* Unlinks every registered file and forgets it. */
void tmpfiles_remove_all(void);
/* Writes v to path through a registered temporary file renamed into place,
 * so a failed or interrupted write leaves an older path as it was; -1 with
 * a one-line message in err. */
int tmpfiles_write_json(const char *path, json_t *v, size_t flags, char *err, size_t errlen);

#endif
