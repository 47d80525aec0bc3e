/* qk — portable, bit-exact quantization kernels.
 *
 * Plain C ABI. Every quantized format is described by a qk_params value; its
 * on-disk tensors ("parts") are described by qk_layout, and their bytes are the
 * exact bytes the anchor library (bitsandbytes, comfy-kitchen) writes, as
 * documented in docs/FORMATS.md. Every backend produces the same bytes.
 */
#ifndef QK_QK_H
#define QK_QK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define QK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define QK_API __attribute__((visibility("default")))
#else
#define QK_API
#endif

#define QK_VERSION_MAJOR 0
#define QK_VERSION_MINOR 1
#define QK_VERSION_PATCH 0

/* Library version as "MAJOR.MINOR.PATCH"; *major etc. may be NULL. */
QK_API const char *qk_version(int *major, int *minor, int *patch);

/* ---- status ------------------------------------------------------------ */
typedef enum qk_status {
    QK_OK = 0,
    QK_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, unknown enum, bad params */
    QK_ERR_UNSUPPORTED = 2,      /* format/dtype/shape combination not defined */
    QK_ERR_NONFINITE = 3,        /* NaN/Inf input that the format cannot encode */
    QK_ERR_OUT_OF_MEMORY = 4,
    QK_ERR_BACKEND_UNAVAILABLE = 5, /* backend not built, runtime not found, no device */
    QK_ERR_BACKEND_FAILURE = 6,     /* a device runtime call failed */
    QK_ERR_OVERFLOW = 7             /* sizes overflow size_t / int64 */
} qk_status;

/* Short fixed description of a status code. */
QK_API const char *qk_status_string(qk_status status);
/* Detailed message of the last failing call on this thread ("" if none). */
QK_API const char *qk_last_error(void);

/* Long one-time work that a call does before it returns is announced
 * through this hook as it starts, so that a tool can say why it waits:
 * today an OpenCL program compiled for a device on its first use (minutes
 * on some drivers; the binary is cached for later runs). The message is
 * one line without a newline; fn runs on the calling thread. NULL (the
 * default) is silent. */
typedef void (*qk_notice_fn)(const char *message, void *user);
QK_API void qk_set_notice_handler(qk_notice_fn fn, void *user);

/* ---- element types ----------------------------------------------------- */
typedef enum qk_dtype {
    QK_DTYPE_F32 = 0,
    QK_DTYPE_F16 = 1,
    QK_DTYPE_BF16 = 2,
    QK_DTYPE_U8 = 3,
    QK_DTYPE_I8 = 4,
    QK_DTYPE_F8_E4M3 = 5, /* float8_e4m3fn bytes */
    QK_DTYPE_F8_E5M2 = 6, /* float8_e5m2 bytes */
    QK_DTYPE_COUNT
} qk_dtype;

QK_API size_t qk_dtype_size(qk_dtype dtype);
/* "f32", "f16", "bf16", "u8", "i8", "f8_e4m3", "f8_e5m2"; NULL for an unknown value. */
QK_API const char *qk_dtype_name(qk_dtype dtype);
QK_API qk_status qk_dtype_from_name(const char *name, qk_dtype *out);

/* ---- formats ----------------------------------------------------------- */
typedef enum qk_format {
    QK_FORMAT_NF4 = 0,             /* bitsandbytes NF4, blockwise absmax */
    QK_FORMAT_FP4 = 1,             /* bitsandbytes FP4 (its own code order) */
    QK_FORMAT_NVFP4 = 2,           /* ComfyUI NVFP4: E2M1, e4m3 16-block scales, f32 global */
    QK_FORMAT_MXFP8 = 3,           /* E4M3 data, E8M0 32-block scales */
    QK_FORMAT_FLOAT8_E4M3FN = 4,   /* scaled per tensor / row / 2-D block */
    QK_FORMAT_FLOAT8_E5M2 = 5,     /* scaled per tensor / row / 2-D block */
    QK_FORMAT_INT8_TENSORWISE = 6, /* per tensor or per row, optional ConvRot */
    QK_FORMAT_INT8_BLOCKWISE = 7,  /* 2-D tiles */
    QK_FORMAT_COUNT
} qk_format;

/* Canonical names: "nf4", "fp4", "nvfp4", "mxfp8", "float8_e4m3fn",
 * "float8_e5m2", "int8_tensorwise", "int8_blockwise". */
QK_API const char *qk_format_name(qk_format format);
QK_API qk_status qk_format_from_name(const char *name, qk_format *out);

typedef enum qk_scaling {
    QK_SCALING_TENSOR = 0, /* one scale for the whole tensor */
    QK_SCALING_ROW = 1,    /* one scale per row (output channel) */
    QK_SCALING_BLOCK = 2   /* one scale per block_size x block_size tile */
} qk_scaling;

typedef struct qk_params {
    qk_format format;
    qk_scaling scaling;    /* float8_*: tensor|row|block; int8_tensorwise: tensor|row */
    int32_t block_size;    /* nf4/fp4: 32..4096 (power of two); block scaling: tile edge */
    int32_t double_quant;  /* nf4/fp4: quantize absmax to 8 bits (nested blocks of 256) */
    int32_t convrot_group; /* int8_tensorwise: 0 = off, else 16/64/256/1024 (needs ROW) */
} qk_params;

/* The anchor's defaults for a format (nf4: block 64, no double quant; block
 * scaling: 128; int8_blockwise: 128; ConvRot off). */
QK_API qk_status qk_params_default(qk_format format, qk_params *out);
/* Checks params for a rows x cols input; QK_OK or a message in qk_last_error(). */
QK_API qk_status qk_params_validate(const qk_params *params, int64_t rows, int64_t cols);

/* ---- quantized tensor layout --------------------------------------------
 * A quantized tensor is up to four parts. Unused parts have nbytes == 0.
 *   DATA   packed codes (nf4/fp4/nvfp4: 2 per byte, element 2j in the high nibble)
 *   SCALE  per-block/row/tensor scales (bnb absmax f32 or u8 with double quant,
 *          nvfp4 e4m3 bytes / mxfp8 e8m0 bytes in the cuBLAS 128x4 blocked layout,
 *          float8/int8 f32 scales)
 *   SCALE2 nvfp4 per-tensor f32 scale; bnb nested absmax (double quant)
 *   OFFSET bnb nested offset (f32, double quant)                                */
typedef enum qk_part {
    QK_PART_DATA = 0,
    QK_PART_SCALE = 1,
    QK_PART_SCALE2 = 2,
    QK_PART_OFFSET = 3,
    QK_PART_COUNT = 4
} qk_part;

typedef struct qk_part_info {
    qk_dtype dtype;
    int32_t ndim;     /* 0 (scalar), 1 or 2 */
    int64_t shape[2]; /* the shape the consumer's file holds */
    size_t nbytes;
} qk_part_info;

typedef struct qk_layout {
    qk_part_info part[QK_PART_COUNT];
} qk_layout;

/* Shapes and sizes of every part for a rows x cols input. */
QK_API qk_status qk_layout_query(const qk_params *params, int64_t rows, int64_t cols,
                                 qk_layout *out);
/* Name of a part as the consumer's file calls it for this format, e.g.
 * "weight_scale" (nvfp4 SCALE), "absmax"; NULL if the format has no such part. */
QK_API const char *qk_part_name(const qk_params *params, qk_part part);

/* ---- backends, devices, contexts ---------------------------------------- */
typedef struct qk_backend_info {
    const char *name;        /* "cpu", "cuda", "vulkan", "opencl" */
    int built;               /* compiled into this libqk */
    int available;           /* runtime found and at least one usable device */
    int device_count;
    const char *unavailable_reason; /* why not available ("" when available) */
} qk_backend_info;

typedef struct qk_device_info {
    char name[128];   /* e.g. "NVIDIA H100 80GB HBM3", "CPU (8 threads)" */
    char vendor[64];
    uint64_t memory_bytes; /* 0 if unknown */
    int compute_units;
    int host_cpu; /* the device runs on the host CPU (lavapipe, PoCL): `auto` passes it by */
} qk_device_info;

QK_API int qk_backend_count(void);
QK_API qk_status qk_backend_get_info(int index, qk_backend_info *out);
QK_API qk_status qk_device_get_info(const char *backend, int device, qk_device_info *out);

typedef struct qk_context qk_context;

/* backend: "auto", "cpu", "cuda", "vulkan", "opencl", or NULL (= the QK_BACKEND
 * environment variable, else "auto"). "auto" prefers CUDA on NVIDIA, Vulkan
 * on AMD/Intel, OpenCL as fallback, CPU last; devices that run on the host CPU
 * (software Vulkan/OpenCL) are left to the CPU backend, which is faster there.
 * device: index within backend. */
QK_API qk_status qk_context_create(const char *backend, int device, qk_context **out);
QK_API void qk_context_destroy(qk_context *ctx);
QK_API const char *qk_context_backend(const qk_context *ctx);
QK_API const char *qk_context_device(const qk_context *ctx);
/* CPU backend worker threads (0 = number of online CPUs; default). */
QK_API qk_status qk_context_set_threads(qk_context *ctx, int threads);

/* ---- operations on host buffers -----------------------------------------
 * in: rows x cols row-major, dtype f32/f16/bf16. parts[i] must hold
 * layout.part[i].nbytes bytes (NULL where nbytes == 0). Every buffer starts
 * at a multiple of its element size (QK_ERR_INVALID_ARGUMENT otherwise; a
 * mapped file's tensor may not: copy it). ctx may be NULL (CPU). */
QK_API qk_status qk_quantize(qk_context *ctx, const qk_params *params, qk_dtype in_dtype,
                             const void *in, int64_t rows, int64_t cols,
                             void *const parts[QK_PART_COUNT]);

/* out: rows x cols row-major in out_dtype (f32/f16/bf16), unpadded. */
QK_API qk_status qk_dequantize(qk_context *ctx, const qk_params *params,
                               const void *const parts[QK_PART_COUNT], int64_t rows,
                               int64_t cols, qk_dtype out_dtype, void *out);

/* ---- benchmark -----------------------------------------------------------
 * Times one operation on data already where the backend computes (device
 * memory; host<->device transfers are not timed) and, in the same call, a
 * plain copy of a buffer of the input's size there (device-to-device copy,
 * memcpy on the CPU): the bandwidth ceiling the operation is judged against.
 * Bandwidths count bytes read plus bytes written. For a dequantize benchmark
 * `in` is quantized first by the same backend. */
typedef struct qk_bench_result {
    double seconds;      /* one operation, median over the iterations */
    double bytes_moved;  /* logical bytes read + written by one operation */
    double copy_seconds; /* one buffer copy, median */
    double copy_bytes;   /* bytes read + written by that copy (2 x buffer) */
    int iterations;
} qk_bench_result;

QK_API qk_status qk_bench(qk_context *ctx, int dequantize, const qk_params *params, qk_dtype dtype,
                          const void *in, int64_t rows, int64_t cols, int iterations,
                          qk_bench_result *out);

#ifdef __cplusplus
}
#endif
#endif /* QK_QK_H */
