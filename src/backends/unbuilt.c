/* Registry entries for device backends that this libqk was built without.
 * They report whether the runtime they would load is present, so `qtool
 * devices` can tell a user what a build with the backend would find. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "../core/core_internal.h"

#if !defined(QK_HAVE_CUDA) || !defined(QK_HAVE_VULKAN) || !defined(QK_HAVE_OPENCL)
static int runtime_present(const char *lib)
{
    void *h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL)
        return 0;
    dlclose(h);
    return 1;
}

/* The reason is worked out once (dlopen is not free) and then shared. */
#define UNBUILT_BACKEND(ident, label, lib)                                                          \
    static char ident##_msg[160];                                                                  \
    static pthread_once_t ident##_once = PTHREAD_ONCE_INIT;                                        \
    static void ident##_init(void)                                                                 \
    {                                                                                              \
        snprintf(ident##_msg, sizeof ident##_msg, "not built into this libqk (%s %s)", lib,        \
                 runtime_present(lib) ? "is present" : "not found either");                        \
    }                                                                                              \
    static int ident##_probe(const char **reason)                                                  \
    {                                                                                              \
        pthread_once(&ident##_once, ident##_init);                                                 \
        *reason = ident##_msg;                                                                     \
        return 0;                                                                                  \
    }                                                                                              \
    const qk_backend qk_backend_##ident = {label, 0, ident##_probe, 0, 0, 0, 0, 0, 0, 0, 0, 0};

#endif

#ifndef QK_HAVE_CUDA
UNBUILT_BACKEND(cuda, "cuda", "libcuda.so.1")
#endif
#ifndef QK_HAVE_VULKAN
UNBUILT_BACKEND(vulkan, "vulkan", "libvulkan.so.1")
#endif
#ifndef QK_HAVE_OPENCL
UNBUILT_BACKEND(opencl, "opencl", "libOpenCL.so.1")
#endif
