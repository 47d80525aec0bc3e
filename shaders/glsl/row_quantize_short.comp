#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
/* Per-row float8 / int8_tensorwise of bf16/f16, rows up to 4096
 * (qk_vk_row_quantize.glsl) on 64 threads of 8 units: each row's serial
 * step (its scale and product factor, on one thread between two barriers)
 * is shared by 64 elements a thread, and four times as many rows are in
 * flight as with 256 threads of 2 units to hide it. */
#define QK_ROW_UNITS 8u
#define QK_ROW_THREADS 64u
#define QK_ROW_THRESHOLDS 0
#define QK_ROW_F32 0
#include "qk_vk_row_quantize.glsl"
