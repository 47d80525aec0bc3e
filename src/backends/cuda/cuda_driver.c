/* Run-time loader of the CUDA driver API (libcuda.so.1). */
#include "cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static qk_cu_api api;
static const qk_cu_api *loaded;
static int device_count;
static char why[200];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer without a cast that -Wpedantic rejects. */
static int resolve(void *lib, const char *name, const char *alt, void *slot)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL && alt != NULL)
        sym = dlsym(lib, alt);
    if (sym == NULL) {
        snprintf(why, sizeof why, "libcuda.so.1 lacks %s", name);
        return 0;
    }
    memcpy(slot, &sym, sizeof sym);
    return 1;
}

#define SYM(field, name) resolve(lib, name, NULL, &api.field)
#define SYM2(field, name, alt) resolve(lib, name, alt, &api.field)

static void load(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(why, sizeof why, "libcuda.so.1 not found (no NVIDIA driver)");
        return;
    }
    int ok = SYM(Init, "cuInit") && SYM(DriverGetVersion, "cuDriverGetVersion") &&
             SYM(DeviceGetCount, "cuDeviceGetCount") && SYM(DeviceGet, "cuDeviceGet") &&
             SYM(DeviceGetName, "cuDeviceGetName") && SYM(DeviceGetAttribute, "cuDeviceGetAttribute") &&
             SYM(DeviceTotalMem, "cuDeviceTotalMem_v2") &&
             SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
             SYM2(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease") &&
             SYM(CtxSetCurrent, "cuCtxSetCurrent") && SYM(ModuleLoadData, "cuModuleLoadData") &&
             SYM(ModuleUnload, "cuModuleUnload") && SYM(ModuleGetFunction, "cuModuleGetFunction") &&
             SYM(FuncGetAttribute, "cuFuncGetAttribute") &&
             SYM(FuncSetAttribute, "cuFuncSetAttribute") &&
             SYM(OccupancyMaxActiveBlocksPerMultiprocessor, "cuOccupancyMaxActiveBlocksPerMultiprocessor") &&
             SYM(MemAlloc, "cuMemAlloc_v2") &&
             SYM(MemFree, "cuMemFree_v2") && SYM(MemAllocHost, "cuMemAllocHost_v2") &&
             SYM(MemFreeHost, "cuMemFreeHost") && SYM(MemcpyHtoD, "cuMemcpyHtoD_v2") &&
             SYM(MemcpyDtoH, "cuMemcpyDtoH_v2") && SYM(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2") &&
             SYM(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2") && SYM(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2") &&
             SYM2(MemsetD8Async, "cuMemsetD8Async", "cuMemsetD8Async_v2") && SYM(StreamCreate, "cuStreamCreate") &&
             SYM2(StreamDestroy, "cuStreamDestroy_v2", "cuStreamDestroy") &&
             SYM(StreamSynchronize, "cuStreamSynchronize") && SYM(StreamWaitEvent, "cuStreamWaitEvent") &&
             SYM(EventCreate, "cuEventCreate") && SYM2(EventDestroy, "cuEventDestroy_v2", "cuEventDestroy") &&
             SYM(EventRecord, "cuEventRecord") && SYM(EventSynchronize, "cuEventSynchronize") &&
             SYM2(EventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime") &&
             SYM(LaunchKernel, "cuLaunchKernel") && SYM(GetErrorString, "cuGetErrorString");
    if (!ok)
        return; /* the library stays open: harmless, and dlclose could race */
    CUresult r = api.Init(0);
    if (r != CUDA_SUCCESS) {
        const char *s = NULL;
        api.GetErrorString(r, &s);
        snprintf(why, sizeof why, "cuInit failed: %s (%d)", s ? s : "?", r);
        return;
    }
    int n = 0;
    if (api.DeviceGetCount(&n) != CUDA_SUCCESS || n <= 0) {
        snprintf(why, sizeof why, "the NVIDIA driver reports no CUDA device");
        return;
    }
    device_count = n;
    loaded = &api;
}

const qk_cu_api *qk_cu_load(int *devices, const char **reason)
{
    pthread_once(&once, load);
    if (devices)
        *devices = loaded ? device_count : 0;
    if (reason)
        *reason = loaded ? "" : why;
    return loaded;
}

const char *qk_cu_error(CUresult r)
{
    const char *s = NULL;
    if (loaded == NULL || loaded->GetErrorString(r, &s) != CUDA_SUCCESS || s == NULL)
        return "unknown CUDA error";
    return s;
}
