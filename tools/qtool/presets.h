/* Model presets: which weights stay in high precision for a model family. */
#ifndef QTOOL_PRESETS_H
#define QTOOL_PRESETS_H

typedef struct {
    const char *regex; /* POSIX extended, matched against the tensor name */
    const char *why;
} preset_keep;

typedef struct {
    const char *name;
    const char *description;
    const preset_keep *keep; /* terminated by a NULL regex */
    /* Block stacks whose first and last block stay high precision (prefix of
     * "<prefix>.<index>."), NULL-terminated; may be empty. */
    const char *const *edge_blocks;
} preset;

const preset *preset_find(const char *name);
const preset *preset_at(int i); /* NULL past the end */

#endif
