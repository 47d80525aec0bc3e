/* Run-time binding to the OpenCL ICD loader. */
#include "cl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static qcl_api api;
static const qcl_api *api_ok;
static char load_reason[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *h = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        h = dlopen("libOpenCL.so", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(load_reason, sizeof load_reason, "libOpenCL.so.1 not found (no OpenCL ICD loader)");
        return;
    }
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define QCL_RESOLVE(name)                                                                          \
    {                                                                                              \
        void *sym = dlsym(h, #name);                                                               \
        if (sym == NULL) {                                                                         \
            snprintf(load_reason, sizeof load_reason, "libOpenCL.so.1 lacks %s", #name);           \
            return;                                                                                \
        }                                                                                          \
        memcpy(&api.name, &sym, sizeof sym);                                                       \
    }
    QCL_FUNCS(QCL_RESOLVE)
#undef QCL_RESOLVE
    api_ok = &api; /* the handle stays open for the life of the process */
}

const qcl_api *qcl_load(const char **reason)
{
    pthread_once(&load_once, load);
    if (api_ok == NULL && reason)
        *reason = load_reason;
    return api_ok;
}

const char *qcl_error_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_BUILD_PROGRAM_FAILURE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_MEM_OBJECT)
        E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE)
        E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION)
        E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET)
        E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION)
        E(CL_INVALID_BUFFER_SIZE) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
#undef E
    default: return "CL error";
    }
}
