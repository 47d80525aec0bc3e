#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
/* Per-row float8 / int8_tensorwise, rows up to 8192 (qk_vk_row_quantize.glsl). */
#define QK_ROW_UNITS 4u
#define QK_ROW_F32 1
#include "qk_vk_row_quantize.glsl"
