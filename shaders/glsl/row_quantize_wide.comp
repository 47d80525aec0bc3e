#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
/* Per-row float8 / int8_tensorwise of bf16/f16, rows of 8200..16384
 * (qk_vk_row_quantize.glsl): a separate pipeline so that the usual rows keep
 * the smaller register footprint. */
#define QK_ROW_UNITS 8u
#define QK_ROW_F32 0
#include "qk_vk_row_quantize.glsl"
