/* Internal interface of the Vulkan backend: the run-time loaded API, the
 * device list, buffers and pipelines, and the per-format recorders. */
#ifndef QK_VK_INTERNAL_H
#define QK_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan_core.h>

#include "../../core/core_internal.h"

/* ---- loader (vk_loader.c): libvulkan.so.1 opened with dlopen ----------- */
#define QK_VK_GLOBAL_FNS(X)                                                                        \
    X(vkCreateInstance) X(vkEnumerateInstanceExtensionProperties)                                  \
    X(vkEnumerateInstanceLayerProperties) X(vkEnumerateInstanceVersion)
#define QK_VK_INSTANCE_FNS(X)                                                                      \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)            \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceQueueFamilyProperties)                  \
    X(vkGetPhysicalDeviceFeatures2)                                                                \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkEnumerateDeviceExtensionProperties)                 \
    X(vkCreateDevice) X(vkGetDeviceProcAddr)
#define QK_VK_DEVICE_FNS(X)                                                                        \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)                    \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory)     \
    X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule) X(vkDestroyShaderModule)               \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout)       \
    X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline)                    \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)                     \
    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkCmdBindPipeline) X(vkCmdPushConstants)       \
    X(vkCmdPushDescriptorSetKHR) X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer)       \
    X(vkCmdFillBuffer) X(vkCmdWriteTimestamp) X(vkCmdResetQueryPool) X(vkCreateQueryPool)          \
    X(vkDestroyQueryPool) X(vkGetQueryPoolResults) X(vkQueueSubmit) X(vkCreateFence)               \
    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle)                     \
    X(vkCreateSemaphore) X(vkDestroySemaphore)

#define QK_VK_DECLARE(name) PFN_##name name;
typedef struct {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    QK_VK_GLOBAL_FNS(QK_VK_DECLARE)
    QK_VK_INSTANCE_FNS(QK_VK_DECLARE)
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
} qk_vk_api;

typedef struct {
    QK_VK_DEVICE_FNS(QK_VK_DECLARE)
} qk_vk_dev_api;

/* Opens the loader and the global entry points; NULL with a reason. */
const qk_vk_api *qk_vk_load(const char **reason);
/* Fills instance-level entry points once the instance exists. */
void qk_vk_load_instance(qk_vk_api *api, VkInstance inst);
int qk_vk_load_device(const qk_vk_api *api, VkDevice dev, qk_vk_dev_api *out);

/* ---- devices (vk_devices.c) --------------------------------------------- */
typedef struct {
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    uint32_t queue_family;
    uint32_t xfer_family; /* a transfer-only family (copy engines), else queue_family */
    uint32_t timestamp_bits;
    uint64_t local_memory;
    int exec_stats; /* VK_KHR_pipeline_executable_properties is there */
    /* The longest run of consecutive invocations that subgroupShuffleXor
     * reaches in a workgroup of 256 made of full subgroups
     * (VK_EXT_subgroup_size_control's computeFullSubgroups): the subgroup
     * size, or 0 where that cannot be had. */
    uint32_t cluster_max;
    uint32_t subgroup_max; /* maxSubgroupSize where cluster_max is not 0 */
    /* shaderFloat16, RoundingModeRTE and SignedZeroInfNanPreserve for 16
     * bits, rounding modes independent of width: the _f16n shader builds
     * (qk_f16_narrow2) may run, and shaderFloat16 is enabled */
    int f16_native;
    /* f16_native and DenormPreserve for 16 bits, denormal behaviour
     * independent of width: the _f16d builds (f16 denormals in native
     * conversions, convrot_quantize256.comp) may run */
    int f16_denorms;
} qk_vk_device;

/* The shared instance and the devices that meet qk's exactness needs,
 * best first; the count (0 with a reason when none). */
int qk_vk_devices(const qk_vk_api **api, VkInstance *inst, const qk_vk_device **list,
                  const char **reason);
/* Validation errors reported by the debug messenger so far. */
unsigned long qk_vk_validation_errors(void);
/* Double-quant quantizes whose offset needed the absmax download (vk_backend.c):
 * tests tell by it which path ran. */
unsigned long qk_vk_mean_fallbacks(void);
/* Tensor-scaled float8/int8 quantizes recorded with the 16-bit code table
 * (vk_ops.c): tests tell by it which path ran. */
unsigned long qk_vk_table16_runs(void);
/* NF4/FP4 quantize calls that took block maxima by subgroup shuffles in
 * bnb4_quantize_cluster.comp, and calls that took bnb4_quantize64.comp (tests). */
unsigned long qk_vk_bnb4_shuffle_runs(void);
unsigned long qk_vk_bnb4_q64_runs(void);
/* Row/tile float8/int8 quantize calls in which some group was coded by
 * products (qk_vk_products.glsl; tests). */
unsigned long qk_vk_product_runs(void);
/* MXFP8 quantize calls that took mxfp8_quantize_lanes.comp (tests). */
unsigned long qk_vk_mxfp8_lanes_runs(void);
/* Dispatches of _f16n and _f16d shader builds so far, and of _f16d builds
 * alone (tests check which path ran). */
unsigned long qk_vk_f16n_dispatches(void);
unsigned long qk_vk_f16d_dispatches(void);
/* NVFP4 quantize calls whose scale words were gathered by shuffles (tests). */
unsigned long qk_vk_nvfp4_gather_runs(void);
/* NVFP4 dequantize dispatches of nvfp4_dequantize.comp (tests). */
unsigned long qk_vk_nvfp4_dq_runs(void);
/* ConvRot quantize pieces recorded with the one-pass row shaders
 * (convrot_row_quantize*.comp; tests). */
unsigned long qk_vk_convrot_fused_runs(void);
/* ConvRot dequantize pieces recorded with convrot_dequantize.comp (tests). */
unsigned long qk_vk_convrot_dq_runs(void);
/* ConvRot quantize pieces recorded with convrot_quantize.comp (tests; also
 * counted by qk_vk_convrot_fused_runs). */
unsigned long qk_vk_convrot_q_runs(void);
unsigned long qk_vk_convrot_q256_runs(void);
/* The teams a workgroup of its last dispatch had (tests). */
unsigned qk_vk_convrot_q256_last_teams(void);
/* Rows those shaders take: cols a multiple of 16, at most
 * QK_VK_CONVROT_ROW_MAX, on devices with QK_VK_CONVROT_ROW_SHARED bytes of
 * workgroup memory (qk_vk_convrot_row_quantize.glsl: 4 sets of 1088 words
 * and 6). */
#define QK_VK_CONVROT_ROW_MAX 4096
#define QK_VK_CONVROT_ROW_SHORT 1024
#define QK_VK_CONVROT_ROW_SHARED ((4 * 1088 + 6) * 4)

/* ---- buffers, pipelines, commands (vk_gpu.c) ----------------------------- */
enum {
    VB_IN, VB_OUT, VB_DATA, VB_SCALE, VB_SCALE2, VB_AMAX, VB_AUX, VB_FLAG, VB_ROT, VB_TABLE,
    VB_PARTIAL, VB_CODES16, VB_THRESH, VB_DUMMY, VB_COUNT
};

/* VB_TABLE, in words: rcp tables at 0 and 128, dynamic map at 1152, NF4
 * buckets (128 words) at QK_VK_TAB_NF4, then qkf_bnb_code_table for FP4 and
 * NF4 (2048 words each); the shaders that read them say the offsets again. */
#define QK_VK_TAB_NF4 1408
#define QK_VK_TAB_BNB_FP4 1536
#define QK_VK_TAB_BNB_NF4 (QK_VK_TAB_BNB_FP4 + 2048)
#define QK_VK_TAB_DMAP_CODE (QK_VK_TAB_BNB_NF4 + 2048) /* qkf_dmap_table, 1401 words (bnb_nested.comp) */
#define QK_VK_TABLE_WORDS (QK_VK_TAB_DMAP_CODE + 1408)
/* VB_THRESH, in words: the row/tile shaders' threshold table
 * (qk_vk_thresholds.glsl), a tag word per 16-bit key, then 64 words of
 * packed thresholds per key. It lives as long as the device state; its
 * tags are zeroed when it is made. */
#define QK_VK_THRESH_KEYS 32768
#define QK_VK_THRESH_WORDS (QK_VK_THRESH_KEYS + QK_VK_THRESH_KEYS * 64)

/* Pipelines per dtype: QK_DTYPE_F32, F16, BF16 (the shaders' QK_DT), a
 * fourth slot for the f16 pipeline of an _f16n build and a fifth for an
 * _f16d build's. */
#define QK_VK_DTYPES 3
#define QK_VK_F16N_SLOT 3
#define QK_VK_F16D_SLOT 4

enum {
    VP_BNB4_Q, VP_BNB4_DQ, VP_AMAX, VP_SCALES, VP_SCALED_Q, VP_SCALED_DQ, VP_CONVROT, VP_NVFP4_Q,
    VP_MXFP8_Q, VP_BLOCKED_DQ, VP_BNB_NESTED, VP_BNB_NESTED_DQ, VP_ROW_Q, VP_TILE_Q, VP_BNB_SUM,
    VP_TABLE16, VP_SCALED_Q_TABLE, VP_AMAX_TENSOR, VP_ROW_Q_WIDE, VP_COPY, VP_BNB4_Q_CLUSTER,
    VP_BNB4_Q64, VP_MXFP8_Q_LANES, VP_ROW_Q_SHORT, VP_CONVROT_ROW_Q, VP_CONVROT_ROW_Q_SHORT,
    VP_NVFP4_DQ, VP_NVFP4_TABLE, VP_NVFP4_Q_GATHER, VP_CONVROT_DQ, VP_CONVROT_Q, VP_BNB_MEAN, VP_CONVROT_Q256, VP_ROW_Q_F32, VP_CONVROT_Q256_PART, VP_COUNT
};

typedef struct {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
} qk_vk_buffer;

/* Pipelined transfers (vk_stream.c): ring slots of upload, compute and
 * download command buffers linked by semaphores. */
#define QK_VK_SLOTS 3

/* A pipeline made for a workgroup size other than its shader's own. */
typedef struct {
    int pipe, slot;
    uint32_t threads;
    VkPipeline p;
} qk_vk_sized;
/* convrot_quantize256.comp: 2 builds, QK_VK_DTYPES + 2 slots, 8 sizes */
#define QK_VK_SIZED_MAX (2 * (QK_VK_DTYPES + 2) * 8)

typedef struct {
    const qk_vk_api *api;
    qk_vk_dev_api d;
    const qk_vk_device *dev;
    VkDevice device;
    VkQueue queue;
    VkCommandPool pool;
    VkCommandBuffer cmd, xfer[2];
    VkFence fence, xfer_fence[2];
    int xfer_busy[2]; /* a staging half has a copy in flight */
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipes[VP_COUNT][QK_VK_DTYPES + 2]; /* per shader and slot (above), made on first use */
    qk_vk_sized sized[QK_VK_SIZED_MAX];           /* likewise, by workgroup size as well */
    int nsized;
    qk_vk_buffer bufs[VB_COUNT];
    qk_vk_buffer staging;
    void *staging_map;
    VkDeviceSize staging_half; /* transfers alternate between two halves */
    uint32_t mem_local, mem_host; /* memory type indices */
    VkDeviceSize max_range;       /* largest storage-buffer binding (chunk size) */
    VkDeviceSize align;           /* minStorageBufferOffsetAlignment */
    unsigned long validation_seen;
    /* streaming: a second queue when the device has a transfer-only family */
    VkQueue xqueue;
    VkCommandPool xpool;
    VkCommandBuffer st_up[QK_VK_SLOTS], st_comp[QK_VK_SLOTS], st_down[QK_VK_SLOTS];
    VkSemaphore st_sem_up[QK_VK_SLOTS], st_sem_comp[QK_VK_SLOTS];
    VkFence st_fence[QK_VK_SLOTS];
    VkDeviceSize st_region; /* staging bytes of one slot direction */
    int stats;              /* QK_VULKAN_PIPELINE_STATS: print each pipeline's statistics */
} qk_vk_state;

/* ---- pipeline statistics (vk_stats.c) ------------------------------------ */
/* Whether QK_VULKAN_PIPELINE_STATS asks for them. */
int qk_vk_stats_wanted(void);
/* Prints the driver's statistics of each executable of pipeline p (name:
 * its shader) to stderr: registers, instructions, whatever it reports. */
void qk_vk_print_pipeline_stats(const qk_vk_state *s, VkPipeline p, const char *name);

/* ---- shader variants for tuning (vk_shader_dir.c) ------------------------ */
/* The SPIR-V of build `name` from QK_VULKAN_SHADER_DIR (malloc'd words and
 * their bytes), or *words NULL where that names no such file. */
qk_status qk_vk_shader_file(const char *name, uint32_t **words, size_t *size);

#define QK_VK_BINDINGS 6
#define QK_VK_PC_WORDS 16
/* Workgroups a grid-stride dispatch uses at most (vk_ops.c). */
#define QK_VK_STRIDE_GROUPS 16384

typedef struct {
    int slot; /* VB_*, or -1 for none */
    VkDeviceSize off, len;
} qk_vk_bind;

qk_status qk_vk_state_open(const qk_vk_device *dev, const qk_vk_api *api, qk_vk_state **out);
void qk_vk_state_close(qk_vk_state *s);
/* Makes buffer `slot` hold at least `bytes` (contents are lost on growth). */
qk_status qk_vk_reserve(qk_vk_state *s, int slot, VkDeviceSize bytes);
qk_status qk_vk_upload(qk_vk_state *s, int slot, const void *src, VkDeviceSize bytes);
qk_status qk_vk_download(qk_vk_state *s, int slot, VkDeviceSize off, void *dst, VkDeviceSize bytes);
/* Command recording into s->cmd. */
qk_status qk_vk_begin(qk_vk_state *s);
qk_status qk_vk_submit_wait(qk_vk_state *s);
void qk_vk_fill(qk_vk_state *s, int slot, VkDeviceSize bytes, uint32_t value);
/* Dispatches `items` threads (groups_mode: `items` workgroups of 256) of
 * shader `pipe` specialized for dtype dt (a qk_dtype). */
qk_status qk_vk_dispatch(qk_vk_state *s, int pipe, int dt, const qk_vk_bind *binds, int nbinds,
                         const uint32_t *pc, uint64_t items, int groups_mode);
/* The same with the workgroup size `threads` given to a shader that takes
 * it as specialization constant 1 (0: the shader's own). */
qk_status qk_vk_dispatch_sized(qk_vk_state *s, int pipe, int dt, uint32_t threads, const qk_vk_bind *binds,
                               int nbinds, const uint32_t *pc, uint64_t items, int groups_mode);
void qk_vk_barrier(qk_vk_state *s);
/* Compute-to-compute only: inside a streamed piece, where a barrier on the
 * transfer stage would also wait for unrelated, earlier submitted copies. */
void qk_vk_compute_barrier(qk_vk_state *s);
/* Fails if the validation layer reported an error since the last check. */
qk_status qk_vk_check_validation(qk_vk_state *s, const char *what);

/* ---- per-format recorders (vk_ops.c) -------------------------------------- */
/* The input (quantize) or parts (dequantize) are in their buffers; record
 * the whole operation into s->cmd (between qk_vk_begin and submit). */
typedef struct {
    const qk_params *p;
    qk_dtype dt;
    int64_t rows, cols;
    qk_layout lay;
} qk_vk_job;

qk_status qk_vk_record_quantize(qk_vk_state *s, const qk_vk_job *j);
/* Whether environment variable `name` is "0": a path switched off, so
 * that tests run the other one and a GPU session times both. */
int qk_vk_env_off(const char *name);
qk_status qk_vk_record_dequantize(qk_vk_state *s, const qk_vk_job *j);
/* Copies `bytes` (even) from the start of buffer `from` to `to` with a
 * compute shader, in chunks within max_range: the bench's second ceiling. */
qk_status qk_vk_record_copy(qk_vk_state *s, int from, int to, VkDeviceSize bytes);
/* Shader-copy dispatches recorded so far: tests tell by it that it ran. */
unsigned long qk_vk_copy_dispatches(void);
/* Input bytes of a job; checks sizes the shaders' 32-bit indices can reach. */
qk_status qk_vk_job_init(qk_vk_job *j, const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols);
size_t qk_vk_input_bytes(const qk_vk_job *j);
/* Double quant: codes and nested absmax from VB_AUX (absmax) and the offset
 * in VB_AMAX[0], into VB_SCALE and VB_SCALE2. */
qk_status qk_vk_record_nested(qk_vk_state *s, const qk_vk_job *j);
/* The reverse: absmax into VB_AUX from codes in VB_SCALE, nested absmax in
 * VB_SCALE2 and the offset in VB_AMAX[0] (all of them finite). */
qk_status qk_vk_record_nested_dequantize(qk_vk_state *s, const qk_vk_job *j);
/* Buffer holding the f32 absmax a bnb4 quantize produced (before double quant). */
int qk_vk_bnb_absmax_slot(const qk_vk_job *j);

/* ---- the same operations cut into pieces (vk_ops.c) ----------------------
 * An operation is one phase of pieces (each piece: its input in, its
 * dispatches, its output out), or two phases with a middle step between
 * (per-tensor scales: phase 0 reads the input and gathers amax, the middle
 * computes the scales, phase 1 codes and writes out). Units are elements or
 * rows; a piece starts at a multiple of `unit`. The streamed buffers mirror
 * a host buffer byte for byte (input, data part or output). */
typedef struct {
    int64_t units, unit;
    int in_slot, out_slot; /* VB_* streamed in / out, -1 for none */
} qk_vk_phase;

typedef struct {
    int nphase;
    qk_vk_phase ph[2];
} qk_vk_plan;

void qk_vk_plan_of(const qk_vk_state *s, const qk_vk_job *j, int dequantize, qk_vk_plan *plan);
/* Reserves the buffers and records the clearing that precedes the pieces. */
qk_status qk_vk_record_prepare(qk_vk_state *s, const qk_vk_job *j, int dequantize);
/* Records the dispatches of units [u0, u1) of a phase. */
qk_status qk_vk_record_piece(qk_vk_state *s, const qk_vk_job *j, int dequantize, int phase, int64_t u0,
                             int64_t u1);
/* Records the step between two phases (barriers included). */
qk_status qk_vk_record_middle(qk_vk_state *s, const qk_vk_job *j, int dequantize);
/* Records what follows every piece (barriers included): for a double-quant
 * quantize, exact per-run sums of the absmax into VB_PARTIAL, the offset
 * from them and its flag into VB_AMAX (bnb_absmax_mean.comp), and the
 * nested pass with it. */
qk_status qk_vk_record_finish(qk_vk_state *s, const qk_vk_job *j, int dequantize);
/* Byte ranges [off, off + len) of the streamed buffers that units [u0, u1)
 * of a phase read and write. */
void qk_vk_piece_bytes(const qk_vk_state *s, const qk_vk_job *j, int dequantize, int phase, int64_t u0, int64_t u1,
                       VkDeviceSize *in_off, VkDeviceSize *in_len, VkDeviceSize *out_off, VkDeviceSize *out_len);

/* ---- pipelined execution (vk_stream.c) ----------------------------------- */
/* Whether every phase's unit fits a staging region (else the caller takes
 * the whole-buffer path). */
int qk_vk_stream_fits(const qk_vk_state *s, const qk_vk_job *j, int dequantize);
/* Runs a whole operation with piece k + 1's upload and piece k - 1's
 * download in flight while piece k computes. `in` is the quantize input or
 * the dequantize data part, `out` the data part or the output. */
qk_status qk_vk_stream(qk_vk_state *s, const qk_vk_job *j, int dequantize, const void *in, void *out);
qk_status qk_vk_stream_open(qk_vk_state *s);
void qk_vk_stream_close(qk_vk_state *s);

#endif
