/* The OpenCL entry points qk uses, resolved from the ICD loader at run time
 * (dlopen libOpenCL.so.1): libqk has no link dependency on OpenCL. */
#ifndef QK_CL_LOADER_H
#define QK_CL_LOADER_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#define QCL_FUNCS(X)                                                                               \
    X(clGetPlatformIDs)                                                                            \
    X(clGetPlatformInfo)                                                                           \
    X(clGetDeviceIDs)                                                                              \
    X(clGetDeviceInfo)                                                                             \
    X(clCreateContext)                                                                             \
    X(clReleaseContext)                                                                            \
    X(clCreateCommandQueue)                                                                        \
    X(clReleaseCommandQueue)                                                                       \
    X(clCreateProgramWithSource)                                                                   \
    X(clCreateProgramWithBinary)                                                                   \
    X(clBuildProgram)                                                                              \
    X(clGetProgramInfo)                                                                            \
    X(clGetProgramBuildInfo)                                                                       \
    X(clReleaseProgram)                                                                            \
    X(clCreateKernel)                                                                              \
    X(clReleaseKernel)                                                                             \
    X(clSetKernelArg)                                                                              \
    X(clGetKernelWorkGroupInfo)                                                                    \
    X(clCreateBuffer)                                                                              \
    X(clReleaseMemObject)                                                                          \
    X(clEnqueueWriteBuffer)                                                                        \
    X(clEnqueueReadBuffer)                                                                         \
    X(clEnqueueCopyBuffer)                                                                         \
    X(clEnqueueFillBuffer)                                                                         \
    X(clEnqueueNDRangeKernel)                                                                      \
    X(clEnqueueBarrierWithWaitList)                                                                \
    X(clEnqueueMarkerWithWaitList)                                                                 \
    X(clEnqueueMapBuffer)                                                                          \
    X(clEnqueueUnmapMemObject)                                                                     \
    X(clFlush)                                                                                     \
    X(clFinish)                                                                                    \
    X(clWaitForEvents)                                                                             \
    X(clGetEventProfilingInfo)                                                                     \
    X(clReleaseEvent)

typedef struct {
#define QCL_FIELD(name) __typeof__(name) *name;
    QCL_FUNCS(QCL_FIELD)
#undef QCL_FIELD
} qcl_api;

/* The resolved table, or NULL with *reason set (loaded once per process). */
const qcl_api *qcl_load(const char **reason);

/* Short name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES". */
const char *qcl_error_name(cl_int err);

#endif
