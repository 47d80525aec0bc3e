/* Device discovery: every device of every platform, accepted by what it
 * can do (no vendor lists). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

#define MAX_DEVICES 32

static qcl_device devices[MAX_DEVICES];
static int device_count;
static char reason_msg[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void info_str(const qcl_api *cl, cl_device_id d, cl_device_info what, char *out, size_t n)
{
    out[0] = '\0';
    if (cl->clGetDeviceInfo(d, what, n, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[n - 1] = '\0';
}

/* "OpenCL C 1.2 ..." -> 120; 0 if unparsable. */
static int cl_c_version(const char *s)
{
    int major = 0, minor = 0;
    if (sscanf(s, "OpenCL C %d.%d", &major, &minor) != 2)
        return 0;
    return major * 100 + minor * 10;
}

/* Why a device cannot run qk's kernels, or NULL. */
static const char *reject(const qcl_api *cl, cl_device_id d, qcl_device *out)
{
    cl_bool avail = CL_FALSE, compiler = CL_FALSE;
    cl_device_fp_config fp = 0;
    cl_ulong gmem = 0, alloc = 0, lmem = 0;
    cl_uint cus = 0;
    size_t wg = 0;
    char profile[64], cver[64];
    if (cl->clGetDeviceInfo(d, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL) != CL_SUCCESS || !avail)
        return "not available";
    if (cl->clGetDeviceInfo(d, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL) != CL_SUCCESS ||
        !compiler)
        return "no OpenCL C compiler";
    info_str(cl, d, CL_DEVICE_PROFILE, profile, sizeof profile);
    if (strcmp(profile, "FULL_PROFILE") != 0)
        return "not a full-profile device (64-bit integers are needed)";
    info_str(cl, d, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof cver);
    if (cl_c_version(cver) < 120)
        return "OpenCL C below 1.2";
    cl->clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (!(fp & CL_FP_ROUND_TO_NEAREST))
        return "no round-to-nearest f32";
    cl->clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
    cl->clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    cl->clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    cl->clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    cl->clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    cl_bool little = CL_FALSE;
    if (cl->clGetDeviceInfo(d, CL_DEVICE_ENDIAN_LITTLE, sizeof little, &little, NULL) != CL_SUCCESS || !little)
        return "not little-endian";
    if (lmem < 8192)
        return "less than 8 KiB of local memory";
    if (wg < 64)
        return "work-groups below 64 work-items";
    out->global_mem = gmem;
    out->max_alloc = alloc;
    out->local_mem = lmem;
    out->compute_units = (int)cus;
    out->max_wg = wg;
    out->denorms = (fp & CL_FP_DENORM) != 0;
    out->cr_divide = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    cl_device_type type = 0;
    cl->clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    out->host_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info_str(cl, d, CL_DEVICE_NAME, out->name, sizeof out->name);
    info_str(cl, d, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
    info_str(cl, d, CL_DRIVER_VERSION, out->driver, sizeof out->driver);
    info_str(cl, d, CL_DEVICE_VERSION, out->version, sizeof out->version);
    return NULL;
}

/* GPUs and accelerators first, so device 0 (and `auto`) is the fast one;
 * platform order otherwise (a stable insertion sort). */
static int type_rank(const qcl_api *cl, cl_device_id d)
{
    cl_device_type t = 0;
    cl->clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    return (t & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) ? 0 : 1;
}

static void sort_by_type(const qcl_api *cl)
{
    for (int i = 1; i < device_count; i++) {
        qcl_device d = devices[i];
        int j = i, rank = type_rank(cl, d.device);
        while (j > 0 && type_rank(cl, devices[j - 1].device) > rank) {
            devices[j] = devices[j - 1];
            j--;
        }
        devices[j] = d;
    }
}

static void discover(void)
{
    const char *why = NULL;
    const qcl_api *cl = qcl_load(&why);
    if (cl == NULL) {
        snprintf(reason_msg, sizeof reason_msg, "%s", why);
        return;
    }
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (cl->clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || np == 0) {
        snprintf(reason_msg, sizeof reason_msg, "no OpenCL platform (no ICD installed)");
        return;
    }
    if (np > 16)
        np = 16;
    int seen = 0;
    char last_reject[200] = "";
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id ids[MAX_DEVICES];
        cl_uint nd = 0;
        if (cl->clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &nd) != CL_SUCCESS)
            continue;
        if (nd > MAX_DEVICES)
            nd = MAX_DEVICES;
        char pname[64] = "";
        if (cl->clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL) != CL_SUCCESS)
            pname[0] = '\0';
        pname[sizeof pname - 1] = '\0';
        for (cl_uint i = 0; i < nd && device_count < MAX_DEVICES; i++) {
            qcl_device *d = &devices[device_count];
            memset(d, 0, sizeof *d);
            seen++;
            const char *r = reject(cl, ids[i], d);
            if (r != NULL) {
                char dn[64];
                info_str(cl, ids[i], CL_DEVICE_NAME, dn, sizeof dn);
                snprintf(last_reject, sizeof last_reject, "%s: %s", dn, r);
                continue;
            }
            d->platform = plats[p];
            d->device = ids[i];
            snprintf(d->platform_name, sizeof d->platform_name, "%s", pname);
            device_count++;
        }
    }
    sort_by_type(cl);
    if (device_count == 0)
        snprintf(reason_msg, sizeof reason_msg, "%s", seen == 0 ? "no OpenCL device on any platform" : last_reject);
}

int qcl_devices(const qcl_device **out, const char **reason)
{
    pthread_once(&once, discover);
    *out = devices;
    if (device_count == 0 && reason)
        *reason = reason_msg;
    return device_count;
}
